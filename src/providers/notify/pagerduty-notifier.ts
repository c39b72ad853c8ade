/**
 * The PagerDuty channel: sends alert events to the Events API v2 (`POST /v2/enqueue`). Every rollout has exactly one
 * `dedup_key`, derived from its workflow id, so all of a rollout's notifications update one PagerDuty alert and a
 * notification with `resolve: true` resolves it; another rollout never touches it.
 */
import { createHash } from 'node:crypto';
import {
  answerFailure,
  DEFAULT_NOTIFY_TIMEOUT_MS,
  isSuccess,
  postJson,
  readSecret,
  type ChannelRef,
  type HttpAnswer,
} from './http-delivery';
import { notificationTitle, type Notification, type NotificationSeverity, type Notifier } from './notifier';

/** PagerDuty's Events API v2 endpoint. */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export interface PagerDutyNotifierOptions {
  /** The plan's name for the channel (named in errors). */
  name: string;
  /** The environment variable holding the integration's routing key. */
  routingKeyEnv: string;
  /** The channel's severity; when set it wins over the notification's own (the plan author chose how loud it is). */
  severity?: NotificationSeverity;
  /** Default {@link PAGERDUTY_EVENTS_URL}; tests point it at a local receiver. */
  eventsUrl?: string;
  /** Where the variable is read at send time; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** An Events API v2 alert event, as this channel sends it. */
export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  client: string;
  payload?: {
    summary: string;
    source: string;
    severity: NotificationSeverity;
    component: string;
    group?: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  links?: Array<{ href: string; text: string }>;
}

const MAX_SUMMARY = 1024;
const MAX_DEDUP_KEY = 255;

/**
 * The rollout's one dedup key: `canary/<rolloutId>`; an id that would make the key longer than PagerDuty's 255
 * characters is replaced by its SHA-256, so the key stays stable and distinct.
 */
export function pagerDutyDedupKey(rolloutId: string): string {
  const key = `canary/${rolloutId}`;
  return key.length <= MAX_DEDUP_KEY ? key : `canary/sha256:${createHash('sha256').update(rolloutId).digest('hex')}`;
}

/**
 * Builds the event for a notification (pure). A resolution carries only the routing key, the dedup key and
 * `event_action: resolve`. A trigger's summary is the headline and message cut to 1024 characters; its source is the
 * rollout id; a rollout id of the form `rollout:<flag>:<environment>` gives component (flag) and group (environment);
 * the class is the event; custom_details hold the message, the evidence fields and the action commands.
 */
export function pagerDutyEvent(notification: Notification, routingKey: string, channelSeverity?: NotificationSeverity): PagerDutyEvent {
  const dedupKey = pagerDutyDedupKey(notification.rolloutId);
  if (notification.resolve) return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey, client: 'canary' };

  const title = notificationTitle(notification);
  const summary = notification.message.trim() && notification.message.trim() !== title ? `${title}: ${notification.message.trim()}` : title;
  const target = /^rollout:([^:]+):(.+)$/.exec(notification.rolloutId);
  const details: Record<string, unknown> = { message: notification.message, event: notification.event, channel: notification.channel, rollout: notification.rolloutId };
  if (notification.fields?.length) details.evidence = Object.fromEntries(notification.fields.map((f) => [f.label, f.value]));
  if (notification.actions?.length) details.actions = Object.fromEntries(notification.actions.map((a) => [a.label, a.command]));

  const event: PagerDutyEvent = {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    client: 'canary',
    payload: {
      summary: summary.length <= MAX_SUMMARY ? summary : `${summary.slice(0, MAX_SUMMARY - 1)}…`,
      source: notification.rolloutId,
      severity: channelSeverity ?? notification.severity ?? 'warning',
      component: target?.[1] ?? 'canary',
      ...(target ? { group: target[2] } : {}),
      class: notification.event,
      custom_details: details,
    },
  };
  if (notification.links?.length) event.links = notification.links.map((l) => ({ href: l.url, text: l.label }));
  return event;
}

/**
 * Sends each notification as a trigger (or, with `resolve`, a resolve) event. Rejects with a `NotifyFailed` naming the
 * channel when the variable is unset, PagerDuty does not answer in time, or it answers non-2xx (with PagerDuty's
 * message and errors; 429 and 5xx are retryable).
 */
export class PagerDutyNotifier implements Notifier {
  private readonly ref: ChannelRef;

  constructor(private readonly options: PagerDutyNotifierOptions) {
    this.ref = { kind: 'pagerduty', name: options.name };
  }

  async send(notification: Notification): Promise<void> {
    const env = this.options.env ?? process.env;
    const routingKey = readSecret(env, this.options.routingKeyEnv, this.ref, 'the routing key of a PagerDuty Events API v2 integration');
    const answer = await postJson({
      channel: this.ref,
      url: this.options.eventsUrl ?? PAGERDUTY_EVENTS_URL,
      urlSource: 'the PagerDuty events URL',
      body: JSON.stringify(pagerDutyEvent(notification, routingKey, this.options.severity)),
      timeoutMs: this.options.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS,
      secrets: [routingKey],
    });
    if (!isSuccess(answer)) throw answerFailure(this.ref, 'PagerDuty', answer, explain(answer), [routingKey]);
  }
}

/** PagerDuty's error body: `{ status, message, errors: [...] }`; anything else is shown as text. */
function explain(answer: HttpAnswer): string {
  try {
    const body = JSON.parse(answer.text) as { message?: unknown; errors?: unknown };
    const errors = Array.isArray(body.errors) ? body.errors.map(String).join('; ') : '';
    const message = typeof body.message === 'string' ? body.message : '';
    return [message, errors].filter(Boolean).join(': ') || answer.text;
  } catch {
    return answer.text;
  }
}
