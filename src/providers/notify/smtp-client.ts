/**
 * A minimal SMTP client (RFC 5321) over node:net and node:tls: enough to hand one message to a mail server. Node has
 * no SMTP client of its own, and the email channel needs no more than this: greeting, EHLO, STARTTLS when the server
 * offers it (or TLS from the start with `smtps://`), AUTH PLAIN or LOGIN when the URL carries credentials, MAIL, RCPT,
 * DATA with dot-stuffing, QUIT.
 *
 * The server's URL holds the password, so nothing here puts the URL, the user or the password into an error; errors
 * name the step and the server's reply code and text, with the password (as written and in the base64 of AUTH PLAIN
 * and LOGIN) removed from that text.
 *
 * The server is not trusted: the timeout (or the caller's signal) ends the exchange wherever it stands — connecting,
 * the TLS handshake, waiting for a reply — and drops the connection; a reply may hold at most 64 KiB; nothing the
 * server sent in the clear is read after STARTTLS.
 */
import { BlockList, isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { redact } from './http-delivery';

/** Where and how to send: the server, from the URL, and the envelope. */
export interface SmtpSendRequest {
  /**
   * `smtp://[user[:password]@]host[:port]` (port 587 by default; upgraded with STARTTLS when the server offers it) or
   * `smtps://…` (TLS from the start, port 465 by default). User and password are percent-encoded.
   */
  url: string;
  /** The envelope sender (MAIL FROM). */
  from: string;
  /** The envelope recipients (RCPT TO), at least one. */
  to: readonly string[];
  /** The message as sent after DATA: header lines, an empty line, the body; lines end in CRLF. Dot-stuffed here. */
  message: string;
  /** The name announced in EHLO (this host's name). */
  clientName: string;
  /** The whole exchange, connecting included, must end within this time. */
  timeoutMs: number;
  /** More TLS settings, e.g. the CA of a private mail server. */
  tls?: ConnectionOptions;
  /** Ends the exchange (and drops the connection) when it aborts, e.g. the cancellation signal of an activity. */
  signal?: AbortSignal;
}

/** Why a message was not handed over; `transient` when trying again later may succeed (RFC 5321 4yz replies, no answer). */
export class SmtpFailure extends Error {
  override name = 'SmtpFailure';

  constructor(
    message: string,
    readonly transient: boolean,
    /** The server's reply code, when it answered. */
    readonly code?: number,
  ) {
    super(message);
  }
}

/** One reply: its code and its text lines (without the code). */
interface Reply {
  code: number;
  lines: string[];
}

/** The parts of an SMTP URL; the password stays inside this module. */
interface SmtpServer {
  host: string;
  port: number;
  implicitTls: boolean;
  user?: string;
  password?: string;
}

/**
 * The most a reply may hold (its lines, or a line not yet ended), and the most replies nobody has asked for yet may
 * hold: a server that sends more is broken or hostile, and is not read further.
 */
const MAX_REPLY_CHARS = 64 * 1024;

/** Reads an SMTP URL; a URL that is not one is a permanent failure that does not repeat the URL. */
export function parseSmtpUrl(url: string): SmtpServer {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') || !parsed.hostname) {
    throw new SmtpFailure('expected an smtp:// or smtps:// URL with a host', false);
  }
  const implicitTls = parsed.protocol === 'smtps:';
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : implicitTls ? 465 : 587,
    implicitTls,
    ...(parsed.username ? { user: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}

/**
 * Hands one message to the server of `request.url`. Resolves once the server has accepted it (250 after the data);
 * rejects with an {@link SmtpFailure}. Credentials are sent only over TLS, except to a server on this machine.
 */
export async function sendMail(request: SmtpSendRequest): Promise<void> {
  const server = parseSmtpUrl(request.url);
  if (request.to.length === 0) throw new SmtpFailure('no recipients', false);
  if (request.signal?.aborted) throw cancelled();
  const session = new SmtpSession(server, request);
  try {
    await session.connected;
    await session.exchange(server, request);
  } finally {
    session.close();
  }
}

function cancelled(): SmtpFailure {
  return new SmtpFailure('sending was cancelled', true);
}

/**
 * One connection to a server: reads replies line by line, across a STARTTLS upgrade. The first failure (the timeout,
 * the caller's signal, a lost connection, a reply that is not SMTP or too long) ends everything waiting — a reply, the
 * connection, the TLS handshake — and everything asked for later.
 */
class SmtpSession {
  /** Resolves once connected (and, with `smtps://`, once TLS is up). */
  readonly connected: Promise<void>;
  private buffer = '';
  private readonly replies: Reply[] = [];
  /** The characters held in `replies`. */
  private queuedChars = 0;
  private pendingLines: string[] = [];
  /** The characters held in `pendingLines`. */
  private pendingChars = 0;
  private waiting?: { resolve: (reply: Reply) => void; reject: (err: Error) => void };
  /** Rejects the connection or TLS handshake being waited for. */
  private stepFailed?: (err: Error) => void;
  private failure?: Error;
  private readonly deadline: NodeJS.Timeout;
  private readonly onAbort = () => this.abort(cancelled());
  private readonly signal: AbortSignal | undefined;
  private secure: boolean;
  /** The connection as opened (TCP, or TLS with `smtps://`), under any TLS started later. */
  private readonly raw: Socket;
  /** What the conversation reads and writes: `raw`, or the TLS socket over it after STARTTLS. */
  private socket: Socket;

  constructor(server: SmtpServer, request: SmtpSendRequest) {
    this.secure = server.implicitTls;
    const options = { host: server.host, port: server.port };
    this.raw = this.socket = server.implicitTls
      ? tlsConnect({ ...options, servername: isIP(server.host) ? undefined : server.host, ...request.tls })
      : netConnect(options);
    // Only once there is a socket: a connect that throws leaves no timer or listener behind.
    this.deadline = setTimeout(() => this.abort(new SmtpFailure(`no answer from the server within ${request.timeoutMs} ms`, true)), request.timeoutMs);
    this.signal = request.signal;
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    const ready = server.implicitTls ? 'secureConnect' : 'connect';
    this.connected = this.step((resolve) => this.raw.once(ready, () => resolve()));
    this.listen(this.raw);
  }

  /** The whole conversation after connecting. */
  async exchange(server: SmtpServer, request: SmtpSendRequest): Promise<void> {
    await this.expect('the greeting', [220]);
    let capabilities = await this.hello(request.clientName);
    if (!this.secure && capabilities.has('STARTTLS')) {
      await this.command('STARTTLS', 'STARTTLS', [220]);
      await this.upgrade(server, request.tls);
      capabilities = await this.hello(request.clientName);
    }
    if (server.user !== undefined) await this.authenticate(server, capabilities);
    await this.command(`MAIL FROM:<${request.from}>`, 'MAIL FROM', [250]);
    for (const to of request.to) await this.command(`RCPT TO:<${to}>`, `RCPT TO ${to}`, [250, 251]);
    await this.command('DATA', 'DATA', [354]);
    this.write(`${dotStuff(request.message)}\r\n.\r\n`);
    await this.expect('the message', [250]);
    // The message is accepted: QUIT is a courtesy, and a server that does not answer it changes nothing.
    this.write('QUIT\r\n');
  }

  /** Ends the connection; one the server does not close is dropped a second later. */
  close(): void {
    clearTimeout(this.deadline);
    this.signal?.removeEventListener('abort', this.onAbort);
    const socket = this.socket;
    socket.removeAllListeners('data');
    socket.on('error', () => undefined);
    socket.end();
    setTimeout(() => {
      socket.destroy();
      this.raw.destroy();
    }, 1_000).unref();
  }

  /** EHLO, or HELO for a server that does not know EHLO; the capabilities the server lists (keywords upper-case). */
  private async hello(clientName: string): Promise<Map<string, string[]>> {
    this.write(`EHLO ${clientName}\r\n`);
    const reply = await this.next();
    if (reply.code !== 250) {
      await this.command(`HELO ${clientName}`, 'HELO', [250]);
      return new Map();
    }
    const capabilities = new Map<string, string[]>();
    for (const line of reply.lines.slice(1)) {
      const [keyword = '', ...params] = line.trim().split(/\s+/);
      capabilities.set(keyword.toUpperCase(), params.map((p) => p.toUpperCase()));
    }
    return capabilities;
  }

  private async authenticate(server: SmtpServer, capabilities: Map<string, string[]>): Promise<void> {
    if (!this.secure && !isLoopback(server.host)) {
      throw new SmtpFailure('the server offers no TLS (STARTTLS): the credentials are not sent in the clear; use smtps:// or a server with STARTTLS', false);
    }
    const mechanisms = capabilities.get('AUTH') ?? [];
    const user = server.user ?? '';
    const password = server.password ?? '';
    const secrets = credentialForms(user, password);
    if (mechanisms.includes('PLAIN')) {
      this.write(`AUTH PLAIN ${authPlain(user, password)}\r\n`);
      await this.expect('AUTH PLAIN', [235], secrets);
    } else if (mechanisms.includes('LOGIN')) {
      await this.command('AUTH LOGIN', 'AUTH LOGIN', [334]);
      this.write(`${Buffer.from(user, 'utf8').toString('base64')}\r\n`);
      await this.expect('AUTH LOGIN', [334], secrets);
      this.write(`${Buffer.from(password, 'utf8').toString('base64')}\r\n`);
      await this.expect('AUTH LOGIN', [235], secrets);
    } else {
      throw new SmtpFailure(`the URL has credentials but the server offers neither AUTH PLAIN nor AUTH LOGIN (offers: ${mechanisms.join(' ') || 'none'})`, false);
    }
  }

  /**
   * Continues the conversation over TLS on the same connection (after 220 to STARTTLS). Anything the server sent in
   * the clear after that 220 — replies, part of a line — could only have been added by someone on the way (RFC 3207
   * §6): the connection is not trusted and nothing more is sent. Nothing received in the clear is kept.
   */
  private upgrade(server: SmtpServer, tls: ConnectionOptions | undefined): Promise<void> {
    if (this.replies.length > 0 || this.pendingLines.length > 0 || this.buffer.length > 0 || this.raw.readableLength > 0) {
      return Promise.reject(new SmtpFailure('STARTTLS: the server sent more after its 220 in the clear; not trusting the connection', false));
    }
    this.buffer = '';
    this.pendingLines = [];
    this.pendingChars = 0;
    this.replies.length = 0;
    this.queuedChars = 0;
    return this.step((resolve) => {
      this.raw.removeAllListeners('data');
      // `host` is what the certificate is checked against; SNI (`servername`) carries names only, never addresses.
      const secured = tlsConnect({ socket: this.raw, host: server.host, servername: isIP(server.host) ? undefined : server.host, ...tls });
      // Before listen(): a failed handshake is reported as such, not as a lost connection.
      secured.once('error', (err) => this.fail(new SmtpFailure(`STARTTLS failed: ${err.message}`, false)));
      secured.once('secureConnect', () => {
        this.secure = true;
        resolve();
      });
      this.socket = secured;
      this.listen(secured);
    });
  }

  /** A promise for a step that waits on the connection (connecting, a TLS handshake), ended too by any failure. */
  private step(start: (resolve: () => void) => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.stepFailed = reject;
      start(() => {
        this.stepFailed = undefined;
        resolve();
      });
    });
  }

  private listen(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', (err) => this.fail(connectFailure(err)));
    socket.on('close', () => this.fail(new SmtpFailure('the server closed the connection', true)));
  }

  private receive(chunk: string): void {
    if (this.failure) return;
    this.buffer += chunk;
    let start = 0;
    for (let end = this.buffer.indexOf('\n'); end !== -1; end = this.buffer.indexOf('\n', start)) {
      const line = this.buffer.slice(start, end).replace(/\r$/, '');
      start = end + 1;
      const match = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!match) {
        this.abort(new SmtpFailure(`the server answered something that is not SMTP: ${JSON.stringify(line.slice(0, 80))}`, false));
        return;
      }
      const text = match[3] ?? '';
      this.pendingLines.push(text);
      this.pendingChars += text.length + 1;
      if (this.pendingChars > MAX_REPLY_CHARS) return this.abort(tooLong());
      if (match[2] === '-') continue;
      const reply = { code: Number(match[1]), lines: this.pendingLines };
      const chars = this.pendingChars;
      this.pendingLines = [];
      this.pendingChars = 0;
      if (this.waiting) {
        const { resolve } = this.waiting;
        this.waiting = undefined;
        resolve(reply);
      } else {
        this.replies.push(reply);
        this.queuedChars += chars;
        if (this.queuedChars > MAX_REPLY_CHARS) return this.abort(new SmtpFailure('the server sent more than 64 KiB of replies nobody asked for', false));
      }
    }
    this.buffer = this.buffer.slice(start);
    if (this.pendingChars + this.buffer.length > MAX_REPLY_CHARS) this.abort(tooLong());
  }

  /** Records the first failure and ends whatever is waiting: a reply, the connection, a TLS handshake. */
  private fail(err: Error): void {
    this.failure ??= err;
    const waiting = this.waiting;
    const stepFailed = this.stepFailed;
    this.waiting = undefined;
    this.stepFailed = undefined;
    waiting?.reject(this.failure);
    stepFailed?.(this.failure);
  }

  /** Fails, forgets what was received, and drops the connection: nothing more is read or sent. */
  private abort(err: Error): void {
    this.fail(err);
    this.replies.length = 0;
    this.queuedChars = 0;
    this.buffer = '';
    this.pendingLines = [];
    this.pendingChars = 0;
    this.socket.destroy();
    this.raw.destroy();
  }

  private next(): Promise<Reply> {
    const queued = this.replies.shift();
    if (queued) {
      this.queuedChars -= queued.lines.reduce((sum, line) => sum + line.length + 1, 0);
      return Promise.resolve(queued);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  private write(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  private async command(line: string, step: string, codes: number[]): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.expect(step, codes);
  }

  /**
   * The next reply, which must have one of `codes`; otherwise a failure naming `step` (4yz transient, others not),
   * with `secrets` removed from the server's text.
   */
  private async expect(step: string, codes: number[], secrets: readonly string[] = []): Promise<Reply> {
    const reply = await this.next();
    if (codes.includes(reply.code)) return reply;
    const text = redact(reply.lines.join(' ').trim(), secrets).slice(0, 300);
    throw new SmtpFailure(`${step}: the server answered ${reply.code}${text ? ` ${text}` : ''}`, reply.code >= 400 && reply.code < 500, reply.code);
  }
}

function tooLong(): SmtpFailure {
  return new SmtpFailure(`the server sent a reply longer than ${MAX_REPLY_CHARS / 1024} KiB`, false);
}

/** The AUTH PLAIN payload (RFC 4616): no authorization identity, the user, the password; base64. */
function authPlain(user: string, password: string): string {
  return Buffer.from(`\u0000${user}\u0000${password}`, 'utf8').toString('base64');
}

/**
 * The password as a server might repeat it in a reply: as is, and as sent in AUTH PLAIN and AUTH LOGIN (base64, with
 * and without its padding). Removed from any text of the server that goes into an error.
 */
export function credentialForms(user: string, password: string): string[] {
  if (!password) return [];
  const encoded = [authPlain(user, password), Buffer.from(password, 'utf8').toString('base64')];
  return [password, ...encoded, ...encoded.map((b64) => b64.replace(/=+$/, ''))];
}

/** A connection error in words: the system's code (ECONNREFUSED, ENOTFOUND …), never a message naming the host. */
function connectFailure(err: Error): SmtpFailure {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new SmtpFailure(`could not reach the server or lost it (${code})`, true);
  // A TLS failure (an unknown certificate authority, a name the certificate does not cover) is not fixed by retrying.
  return new SmtpFailure(`the connection failed: ${err.message}`, false);
}

/** A line of the message that starts with "." gets a second one (RFC 5321 §4.5.2); every line ends in CRLF. */
export function dotStuff(message: string): string {
  return message
    .replace(/\r?\n/g, '\r\n')
    .split('\r\n')
    .map((line) => (line.startsWith('.') ? `.${line}` : line))
    .join('\r\n');
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether `host` (as in the URL) is this machine: `localhost`, or an address in 127.0.0.0/8 or ::1 (any spelling,
 * IPv4-mapped included). A name is not an address: "127.evil.example" is someone else's server.
 */
export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
