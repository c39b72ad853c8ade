/**
 * Words for a failed HTTP request to a metric source (connection refused, DNS, timeout), shared by the Prometheus and
 * scrape sources so "source down" reads the same everywhere. Never includes request headers, so no secret leaks.
 */

/**
 * Describes why `fetch` rejected: a timeout names the limit, a network failure its code and message (Node's fetch
 * wraps them as `TypeError: fetch failed` with the real reason in `cause`).
 */
export function describeFetchFailure(err: unknown, target: string, timeoutMs: number): string {
  const error = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (error?.name === 'TimeoutError' || error?.name === 'AbortError') {
    return `${target} did not answer within ${timeoutMs} ms; check that it is up and reachable from the worker, or raise the timeout`;
  }
  const cause = error?.cause;
  const reason = cause?.message ?? cause?.code ?? error?.message ?? String(err);
  return `${target} is unreachable (${reason}); check that it is up and that the url is right`;
}
