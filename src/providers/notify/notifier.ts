/** The narrow interface of a notification channel: send one message. */
export interface Notification {
  channel: string;
  event: string;
  message: string;
  rolloutId: string;
}

export interface Notifier {
  send(notification: Notification): Promise<void>;
}

/** Keeps messages in memory (the `log` channel, tests). */
export class MemoryNotifier implements Notifier {
  readonly sent: Notification[] = [];
  async send(notification: Notification): Promise<void> {
    this.sent.push(notification);
  }
}
