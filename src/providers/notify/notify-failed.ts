/**
 * The one error a notification channel rejects with. Its message names the channel and, for configuration mistakes,
 * the environment variable to set; it never contains a secret (webhook URL, routing key) or a value derived from one.
 */
export class NotifyFailed extends Error {
  override name = 'NotifyFailed';
  /** Stable failure type for retry policy across Temporal. */
  readonly type = 'NotifyFailed';

  constructor(
    message: string,
    /** The plan's name for the channel. */
    readonly channel: string,
    /**
     * Whether sending again may succeed: true for timeouts, unreachable receivers, 429 and 5xx answers; false for a
     * missing variable, an unsupported channel or a refused payload (4xx).
     */
    readonly retryable: boolean,
    /** The receiver's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}
