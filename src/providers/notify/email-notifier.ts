/**
 * The email channel: each notification is one plain-text message to the plan's addresses (`to`), handed to the mail
 * server whose URL is in the environment variable the plan names (`smtpUrlEnv`, default `SMTP_URL`), read at send
 * time. The URL holds the server's credentials: it never appears in a message, an error or a log.
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import { DEFAULT_NOTIFY_TIMEOUT_MS, describeChannel, readSecret, redact, type ChannelRef } from './http-delivery';
import { notificationTitle, type Notification, type Notifier } from './notifier';
import { NotifyFailed } from './notify-failed';
import { credentialForms, parseSmtpUrl, sendMail, SmtpFailure } from './smtp-client';

/** The variable that holds the SMTP URL when a channel names none. */
export const DEFAULT_SMTP_URL_ENV = 'SMTP_URL';

export interface EmailNotifierOptions {
  /** The plan's name for the channel (named in errors). */
  name: string;
  /** The recipients. */
  to: readonly string[];
  /**
   * The environment variable holding `smtp://user:password@host:port` or `smtps://…`; a `from` query parameter sets
   * the sender (`smtps://…:465?from=canary@example.com`). Default {@link DEFAULT_SMTP_URL_ENV}.
   */
  smtpUrlEnv?: string;
  /** Where the variable is read at send time; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** The name this host announces and the sender's default domain; default the host name. */
  clientName?: string;
  /** More TLS settings (the CA of a private mail server). */
  tls?: ConnectionOptions;
  /** Clock for the Date header; default `Date.now`. */
  now?: () => number;
}

/** What one send may be given besides the notification. */
export interface EmailSendOptions {
  /**
   * Ends the send when it aborts — wherever it stands, connecting included — and drops the connection (e.g. the
   * activity's cancellation signal). The send then rejects with a retryable `NotifyFailed`.
   */
  signal?: AbortSignal;
}

/**
 * Sends each notification as one message. Rejects with a `NotifyFailed` naming the channel and the variable when the
 * variable is unset or not an SMTP URL (not retryable), when the server cannot be reached or does not answer in time
 * (retryable), or when it refuses (a 4yz reply is retryable, a 5yz reply is not).
 */
export class EmailNotifier implements Notifier {
  private readonly ref: ChannelRef;

  constructor(private readonly options: EmailNotifierOptions) {
    this.ref = { kind: 'email', name: options.name };
  }

  async send(notification: Notification, options: EmailSendOptions = {}): Promise<void> {
    const variable = this.options.smtpUrlEnv ?? DEFAULT_SMTP_URL_ENV;
    const url = readSecret(this.options.env ?? process.env, variable, this.ref, 'the mail server\'s URL (smtp://user:password@host:587 or smtps://…)');
    const label = describeChannel(this.ref);
    const secrets = smtpSecrets(url);
    try {
      parseSmtpUrl(url);
    } catch {
      throw new NotifyFailed(`${label}: ${variable} does not hold an SMTP URL; set it to smtp://user:password@host:587 or smtps://user:password@host:465`, this.ref.name, false);
    }
    const from = senderOf(url, this.options.clientName ?? hostname());
    if (!from) throw new NotifyFailed(`${label}: the from parameter of the URL in ${variable} is not an e-mail address`, this.ref.name, false);
    const message = emailMessage(notification, { from, to: this.options.to, sentAt: (this.options.now ?? Date.now)() });
    try {
      await sendMail({
        url,
        from,
        to: this.options.to,
        message,
        clientName: this.options.clientName ?? hostname(),
        timeoutMs: this.options.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS,
        ...(this.options.tls ? { tls: this.options.tls } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      const failure = err instanceof SmtpFailure ? err : new SmtpFailure(String((err as Error)?.message ?? err), true);
      throw new NotifyFailed(`${label}: the mail server in ${variable}: ${redact(failure.message, secrets)}`, this.ref.name, failure.transient);
    }
  }
}

/**
 * The sender: the URL's `from` parameter, else its user when that is an address, else `canary@<this host>`. Undefined
 * when `from` is given but is not an address.
 */
function senderOf(url: string, clientName: string): string | undefined {
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username);
  const from = parsed.searchParams.get('from') ?? (user.includes('@') ? user : `canary@${clientName}`);
  return /^[^\s<>@]+@[^\s<>@]+$/.test(from) ? from : undefined;
}

/**
 * The URL and its password (as written, decoded, and base64-encoded as AUTH PLAIN and LOGIN send it): removed from
 * anything a server says before it is repeated.
 */
function smtpSecrets(url: string): string[] {
  if (!URL.canParse(url)) return [url];
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  return [url, parsed.password, ...credentialForms(decodeURIComponent(parsed.username), password)].filter((s) => s.length > 0);
}

export interface EmailEnvelope {
  from: string;
  to: readonly string[];
  /** Milliseconds since the epoch, for the Date header. */
  sentAt: number;
}

/**
 * The message for a notification (pure): headers (From, To, Subject = the notification's title, Date, a Message-ID
 * derived from the idempotency key so that a retried delivery is recognisably the same message, X-Canary-* headers)
 * and a plain-text UTF-8 body, base64-encoded: the message, severity, evidence lines, commands and links.
 */
export function emailMessage(notification: Notification, envelope: EmailEnvelope): string {
  const domain = envelope.from.split('@')[1] ?? 'canary';
  const id = createHash('sha256')
    .update(notification.idempotencyKey ?? randomUUID())
    .digest('hex')
    .slice(0, 32);
  const headers = [
    `From: canary <${envelope.from}>`,
    `To: ${envelope.to.join(', ')}`,
    `Subject: ${encodeHeader(notificationTitle(notification))}`,
    `Date: ${new Date(envelope.sentAt).toUTCString().replace(/GMT$/, '+0000')}`,
    `Message-ID: <${id}@${domain}>`,
    `X-Canary-Rollout: ${encodeHeader(notification.rolloutId)}`,
    `X-Canary-Event: ${encodeHeader(notification.event)}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
  ];
  const body = Buffer.from(emailText(notification), 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n');
  return `${headers.join('\r\n')}\r\n\r\n${body}`;
}

/** The body as plain text. */
export function emailText(n: Notification): string {
  const sections = [notificationTitle(n), n.message.trim()];
  if (n.severity) sections.push(`Severity: ${n.severity}`);
  if (n.fields?.length) sections.push(n.fields.map((f) => `${f.label}: ${f.value}`).join('\n'));
  if (n.actions?.length) sections.push(n.actions.map((a) => `${a.label}:\n    ${a.command}`).join('\n'));
  if (n.links?.length) sections.push(n.links.map((l) => `${l.label}: ${l.url}`).join('\n'));
  sections.push(`Rollout: ${n.rolloutId}\nEvent: ${n.event}`);
  return `${sections.filter((s) => s.length > 0).join('\n\n')}\n`;
}

/**
 * A header value on one line: plain when it is printable ASCII, else RFC 2047 encoded words (UTF-8, base64) of at most
 * 45 bytes each, folded onto continuation lines. Line breaks in the text become spaces, so no text can add a header.
 */
function encodeHeader(text: string): string {
  const flat = text.replace(/[\r\n]+/g, ' ').trim();
  if (/^[\x20-\x7e]*$/.test(flat) && flat.length <= 900) return flat;
  const words: string[] = [];
  let chunk = '';
  for (const char of flat) {
    if (Buffer.byteLength(chunk + char, 'utf8') > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join('\r\n ');
}
