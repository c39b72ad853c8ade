/**
 * How the HTTP channels (Slack, PagerDuty, the JSON webhook) deliver: read a secret from the environment by name at
 * the moment of sending, POST JSON with a timeout, and turn every failure into a {@link NotifyFailed} whose message
 * names the channel and the variable — never the secret, and never the receiver's text without the secret removed.
 */
import { NotifyFailed } from './notify-failed';

/** A channel as errors name it: `slack channel "ops-slack"`. */
export interface ChannelRef {
  kind: 'slack' | 'pagerduty' | 'webhook' | 'email';
  name: string;
}

/** What a receiver answered: status and (the first 2 KB of) its body. */
export interface HttpAnswer {
  status: number;
  text: string;
}

export interface PostJsonRequest {
  channel: ChannelRef;
  url: string;
  /** The variable the URL came from, named in errors instead of the URL (which may itself be the secret). */
  urlSource: string;
  body: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Values removed from any receiver text that ends up in an error. */
  secrets: string[];
}

/** Default time a channel waits for its receiver before failing (retryable). */
export const DEFAULT_NOTIFY_TIMEOUT_MS = 10_000;

const MAX_ANSWER_CHARS = 2_000;

/** `slack channel "ops-slack"`. */
export function describeChannel(channel: ChannelRef): string {
  return `${channel.kind} channel "${channel.name}"`;
}

/**
 * Reads the secret held by environment variable `variable`. An unset or blank variable is a non-retryable
 * {@link NotifyFailed} naming the variable and what it should hold (`purpose`, e.g. "the Slack incoming-webhook URL").
 */
export function readSecret(env: NodeJS.ProcessEnv, variable: string, channel: ChannelRef, purpose: string): string {
  const value = env[variable]?.trim();
  if (!value) {
    throw new NotifyFailed(
      `${describeChannel(channel)}: environment variable ${variable} is not set; set it to ${purpose} in the worker's environment`,
      channel.name,
      false,
    );
  }
  return value;
}

/**
 * Replaces every occurrence of each secret in `text` with `[redacted]`. For a secret that is a URL, also its path and
 * query, each path segment of 16 or more characters and each query value of 8 or more (tokens inside webhook URLs,
 * such as the last segment of a Slack webhook).
 */
export function redact(text: string, secrets: readonly string[]): string {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    needles.add(secret);
    const url = URL.canParse(secret) ? new URL(secret) : undefined;
    if (!url) continue;
    if (url.pathname.length + url.search.length > 4) needles.add(`${url.pathname}${url.search}`);
    for (const segment of url.pathname.split('/')) if (segment.length >= 16) needles.add(segment);
    for (const value of url.searchParams.values()) if (value.length >= 8) needles.add(value);
    if (url.password.length >= 4) needles.add(url.password);
  }
  let out = text;
  // Longest first, so a URL is removed whole before its path is.
  for (const needle of [...needles].sort((a, b) => b.length - a.length)) out = out.split(needle).join('[redacted]');
  return out;
}

/**
 * POSTs `body` as JSON and answers the receiver's status and text, whatever the status; the caller decides what a
 * non-2xx answer means. Rejects with a retryable {@link NotifyFailed} when the receiver cannot be reached or does not
 * answer within `timeoutMs`, and with a non-retryable one when `url` is not an http(s) URL.
 */
export async function postJson(request: PostJsonRequest): Promise<HttpAnswer> {
  const { channel, urlSource } = request;
  const label = describeChannel(channel);
  if (!URL.canParse(request.url) || !/^https?:$/.test(new URL(request.url).protocol)) {
    throw new NotifyFailed(`${label}: ${urlSource} does not hold an http(s) URL; set it to the receiver's URL`, channel.name, false);
  }
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.body,
      signal: AbortSignal.timeout(request.timeoutMs),
    });
  } catch (err) {
    // Not `instanceof Error`: the DOMException of a timeout may come from another realm.
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new NotifyFailed(`${label}: no answer from the URL in ${urlSource} within ${request.timeoutMs} ms`, channel.name, true);
    }
    // undici puts the reason (ECONNREFUSED, ENOTFOUND …) in `cause`; its message would name the host, so prefer the code.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const reason = typeof cause?.code === 'string' ? cause.code : redact(String(cause?.message ?? err), request.secrets);
    throw new NotifyFailed(`${label}: could not reach the URL in ${urlSource} (${reason})`, channel.name, true);
  }
  const text = await response.text().catch(() => '');
  return { status: response.status, text: text.slice(0, MAX_ANSWER_CHARS) };
}

/** True for 2xx. */
export function isSuccess(answer: HttpAnswer): boolean {
  return answer.status >= 200 && answer.status < 300;
}

/**
 * The error for a non-2xx answer: `slack channel "ops": Slack answered HTTP 400: invalid_payload`. Retryable for 408,
 * 429 and 5xx. `detail` is the receiver's explanation (already extracted from its body); secrets are removed from it.
 */
export function answerFailure(channel: ChannelRef, receiver: string, answer: HttpAnswer, detail: string, secrets: readonly string[]): NotifyFailed {
  const explained = redact(detail.trim().replace(/\s+/g, ' '), secrets).slice(0, 300);
  const retryable = answer.status === 408 || answer.status === 429 || answer.status >= 500;
  return new NotifyFailed(
    `${describeChannel(channel)}: ${receiver} answered HTTP ${answer.status}${explained ? `: ${explained}` : ''}`,
    channel.name,
    retryable,
    answer.status,
  );
}
