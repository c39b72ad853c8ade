/**
 * A token-bucket rate limiter keyed by caller. Each key has a bucket of `capacity` tokens that refills continuously at
 * `refillPerSecond`; a request takes one token, and a request finding the bucket empty is refused with the number of
 * whole seconds until a token is back (the HTTP API answers 429 with that as Retry-After).
 *
 * The clock is injected, so tests step time instead of waiting. Buckets that have refilled completely carry no
 * information and are dropped when the table grows past `maxKeys`, which bounds memory under many distinct callers.
 */

/** Bucket size and refill rate. */
export interface RateLimitOptions {
  /** Requests allowed in a burst; at least 1. */
  capacity: number;
  /** Tokens added per second; greater than 0. */
  refillPerSecond: number;
  /** Milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
  /** Bucket count above which full buckets are dropped; default 10,000. */
  maxKeys?: number;
}

/** Allowed (with the tokens left), or refused with the seconds to wait. */
export type RateDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

/** Per-key token buckets. */
export interface RateLimiter {
  /** Takes one token from `key`'s bucket. */
  take(key: string): RateDecision;
}

/** Builds a {@link RateLimiter}; throws when `capacity` < 1 or `refillPerSecond` ≤ 0 (a limiter that never admits). */
export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const { capacity, refillPerSecond } = options;
  if (!(capacity >= 1)) throw new Error(`rate limit capacity must be at least 1, not ${capacity}`);
  if (!(refillPerSecond > 0)) throw new Error(`rate limit refill must be more than 0 per second, not ${refillPerSecond}`);
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 10_000;
  const buckets = new Map<string, { tokens: number; at: number }>();

  const level = (bucket: { tokens: number; at: number }, at: number) =>
    Math.min(capacity, bucket.tokens + (Math.max(0, at - bucket.at) / 1000) * refillPerSecond);

  return {
    take(key) {
      const at = now();
      const bucket = buckets.get(key) ?? { tokens: capacity, at };
      const tokens = level(bucket, at);
      if (tokens < 1) {
        buckets.set(key, { tokens, at });
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / refillPerSecond)) };
      }
      buckets.set(key, { tokens: tokens - 1, at });
      if (buckets.size > maxKeys) {
        for (const [k, b] of buckets) if (level(b, at) >= capacity) buckets.delete(k);
      }
      return { allowed: true, remaining: Math.floor(tokens - 1) };
    },
  };
}
