/** Small statistics helpers for anomaly detection. Pure. */

/**
 * Mean and population standard deviation of the values of time-ordered samples `[at, value]` with
 * `since <= at < before`, without copying them (Welford's method, read from the newest back). Called on every
 * evaluation of an anomaly condition.
 */
export function meanAndStdDevSince(samples: ReadonlyArray<readonly [number, number]>, since: number, before: number): { count: number; mean: number; stdDev: number } {
  let count = 0;
  let mean = 0;
  let m2 = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const sample = samples[i] as readonly [number, number];
    if (sample[0] >= before) continue;
    if (sample[0] < since) break;
    count++;
    const delta = sample[1] - mean;
    mean += delta / count;
    m2 += delta * (sample[1] - mean);
  }
  return { count, mean, stdDev: count === 0 ? 0 : Math.sqrt(Math.max(0, m2) / count) };
}

/** Nearest-rank percentile (0–100) of a list; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
