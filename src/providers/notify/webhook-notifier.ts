/**
 * The generic webhook channel: POSTs each notification as a versioned JSON document ({@link WebhookNotificationBody},
 * documented in docs/notifications.md). When a signing secret is available the body is signed with HMAC-SHA256 over
 * `<timestamp>.<body>`, so a receiver can check origin and freshness.
 */
import { createHmac } from 'node:crypto';
import {
  answerFailure,
  DEFAULT_NOTIFY_TIMEOUT_MS,
  isSuccess,
  postJson,
  readSecret,
  type ChannelRef,
} from './http-delivery';
import {
  notificationTitle,
  type Notification,
  type NotificationAction,
  type NotificationField,
  type NotificationLink,
  type NotificationSeverity,
  type Notifier,
} from './notifier';

/** The version of {@link WebhookNotificationBody}; a change that breaks receivers increments it. */
export const WEBHOOK_BODY_VERSION = 1;

/** Header carrying `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export const SIGNATURE_HEADER = 'x-canary-signature';
/** Header carrying the signing time in Unix seconds. */
export const TIMESTAMP_HEADER = 'x-canary-timestamp';

/** The JSON a webhook receiver gets. Arrays are always present (possibly empty); `severity` only when known. */
export interface WebhookNotificationBody {
  version: typeof WEBHOOK_BODY_VERSION;
  kind: 'canary.notification';
  /** ISO-8601 time of sending. */
  sentAt: string;
  rolloutId: string;
  channel: string;
  event: string;
  title: string;
  message: string;
  severity?: NotificationSeverity;
  resolve: boolean;
  fields: NotificationField[];
  actions: NotificationAction[];
  links: NotificationLink[];
}

export interface WebhookNotifierOptions {
  /** The plan's name for the channel (named in errors). */
  name: string;
  /** The environment variable holding the receiver's URL. */
  urlEnv: string;
  /**
   * The environment variable holding an HMAC signing secret. When it is set at send time the request carries
   * {@link SIGNATURE_HEADER} and {@link TIMESTAMP_HEADER}; when it is not, the request is sent unsigned.
   */
  signingSecretEnv?: string;
  /** Where the variables are read at send time; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Clock for `sentAt` and the signature timestamp; default `Date.now`. */
  now?: () => number;
}

/** Builds the body for a notification (pure). */
export function webhookBody(notification: Notification, sentAt: number): WebhookNotificationBody {
  const body: WebhookNotificationBody = {
    version: WEBHOOK_BODY_VERSION,
    kind: 'canary.notification',
    sentAt: new Date(sentAt).toISOString(),
    rolloutId: notification.rolloutId,
    channel: notification.channel,
    event: notification.event,
    title: notificationTitle(notification),
    message: notification.message,
    resolve: notification.resolve ?? false,
    fields: notification.fields ?? [],
    actions: notification.actions ?? [],
    links: notification.links ?? [],
  };
  if (notification.severity) body.severity = notification.severity;
  return body;
}

/**
 * The signature header value for `body` signed at `timestamp` (Unix seconds): `v1=` and the hex HMAC-SHA256 of
 * `<timestamp>.<body>` under `secret`. Receivers recompute it over the raw request body and compare in constant time.
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Sends each notification as one POST. Rejects with a `NotifyFailed` naming the channel when the URL variable is
 * unset, the receiver does not answer in time, or it answers non-2xx (with the start of its body, secrets removed).
 */
export class WebhookNotifier implements Notifier {
  private readonly ref: ChannelRef;

  constructor(private readonly options: WebhookNotifierOptions) {
    this.ref = { kind: 'webhook', name: options.name };
  }

  async send(notification: Notification): Promise<void> {
    const env = this.options.env ?? process.env;
    const url = readSecret(env, this.options.urlEnv, this.ref, "the receiver's URL");
    const secret = this.options.signingSecretEnv ? env[this.options.signingSecretEnv]?.trim() : undefined;
    const now = (this.options.now ?? Date.now)();
    const body = JSON.stringify(webhookBody(notification, now));
    const headers: Record<string, string> = {};
    if (notification.idempotencyKey) headers['Idempotency-Key'] = notification.idempotencyKey;
    if (secret) {
      const timestamp = Math.floor(now / 1000);
      headers[TIMESTAMP_HEADER] = String(timestamp);
      headers[SIGNATURE_HEADER] = webhookSignature(secret, timestamp, body);
    }
    const secrets = secret ? [url, secret] : [url];
    const answer = await postJson({
      channel: this.ref,
      url,
      urlSource: this.options.urlEnv,
      body,
      headers,
      timeoutMs: this.options.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS,
      secrets,
    });
    if (!isSuccess(answer)) throw answerFailure(this.ref, 'the receiver', answer, answer.text, secrets);
  }
}
