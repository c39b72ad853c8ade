/**
 * The narrow interface of a notification channel: send one message. Channels (Slack, PagerDuty, a JSON webhook, the
 * log) render the same {@link Notification}; the optional structured parts let a message carry its evidence and the
 * exact command that acts on it, and a channel that cannot show them still has `message`.
 */

/** How bad it is, in PagerDuty's four words (Slack and the webhook show it as given). */
export type NotificationSeverity = 'critical' | 'error' | 'warning' | 'info';

/** One line of evidence: "error rate" → "0.4 % (threshold < 1 %) pass". */
export interface NotificationField {
  label: string;
  value: string;
}

/** Something the reader can do, as the exact command to run ("canary approve rollout:checkout:prod --role cfo"). */
export interface NotificationAction {
  label: string;
  command: string;
}

/** A link to more ("open the rollout in the Temporal UI"). */
export interface NotificationLink {
  label: string;
  url: string;
}

export interface Notification {
  /** The plan's name for the channel the message goes to. */
  channel: string;
  /** What happened, e.g. `approval-needed`, `rollback` (the machine's NotificationEvent). */
  event: string;
  /** The whole message as plain text; every channel shows at least this. */
  message: string;
  /** The rollout's workflow id. */
  rolloutId: string;
  /** A one-line headline; channels derive one from `event` and `rolloutId` when absent. */
  title?: string;
  severity?: NotificationSeverity;
  /** Evidence lines, shown as label/value pairs. */
  fields?: NotificationField[];
  /** Commands that act on the message, shown verbatim (code blocks in Slack). */
  actions?: NotificationAction[];
  links?: NotificationLink[];
  /**
   * The condition this rollout was notifying about is over. PagerDuty resolves the rollout's open incident; other
   * channels show the message as a resolution.
   */
  resolve?: boolean;
  /**
   * The same for every delivery attempt of one notification (retries, a worker that died mid-send): receivers that
   * deduplicate on it see each notification once. The webhook sends it as the `Idempotency-Key` header.
   */
  idempotencyKey?: string;
}

export interface Notifier {
  /**
   * Delivers one message; rejects with an error naming the channel (never a secret) when it could not. A channel that
   * can be slow ends the send when `signal` aborts (the activity's cancellation).
   */
  send(notification: Notification, options?: { signal?: AbortSignal }): Promise<void>;
}

/** Keeps messages in memory (the `log` channel, tests). */
export class MemoryNotifier implements Notifier {
  readonly sent: Notification[] = [];
  async send(notification: Notification): Promise<void> {
    this.sent.push(notification);
  }
}

/**
 * The headline of a notification: its `title`, else the event in words and the rollout ("Approval needed:
 * rollout:checkout:prod"), prefixed "Resolved: " for a resolution.
 */
export function notificationTitle(notification: Notification): string {
  const base = notification.title?.trim() || `${eventInWords(notification.event)}: ${notification.rolloutId}`;
  return notification.resolve && !/^resolved\b/i.test(base) ? `Resolved: ${base}` : base;
}

function eventInWords(event: string): string {
  const words = event.replace(/[-_]+/g, ' ').trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : 'Notification';
}
