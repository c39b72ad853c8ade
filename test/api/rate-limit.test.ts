import { createRateLimiter } from '../../src/api/rate-limit';

describe('the token-bucket rate limiter', () => {
  it('admits a burst of capacity requests, then refuses with the seconds until a token is back', () => {
    let now = 0;
    const limiter = createRateLimiter({ capacity: 3, refillPerSecond: 0.5, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([
      { allowed: true, remaining: 2 },
      { allowed: true, remaining: 1 },
      { allowed: true, remaining: 0 },
    ]);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 2 });
    now = 1000;
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now = 2000;
    expect(limiter.take('a')).toEqual({ allowed: true, remaining: 0 });
  });

  it('keeps one bucket per key', () => {
    const limiter = createRateLimiter({ capacity: 1, refillPerSecond: 1, now: () => 0 });
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('never fills a bucket beyond its capacity however long it was idle', () => {
    let now = 0;
    const limiter = createRateLimiter({ capacity: 2, refillPerSecond: 10, now: () => now });
    limiter.take('a');
    now = 3_600_000;
    expect(limiter.take('a')).toEqual({ allowed: true, remaining: 1 });
    expect(limiter.take('a')).toEqual({ allowed: true, remaining: 0 });
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('drops full buckets when there are too many keys, without forgetting an empty one', () => {
    let now = 0;
    const limiter = createRateLimiter({ capacity: 1, refillPerSecond: 0.001, now: () => now, maxKeys: 2 });
    limiter.take('busy');
    for (let i = 0; i < 5; i += 1) {
      now += 1;
      limiter.take(`caller-${i}`);
    }
    expect(limiter.take('busy').allowed).toBe(false);
  });

  it('refuses a limiter that could never admit a request', () => {
    expect(() => createRateLimiter({ capacity: 0, refillPerSecond: 1 })).toThrow(/capacity must be at least 1/);
    expect(() => createRateLimiter({ capacity: 1, refillPerSecond: 0 })).toThrow(/more than 0 per second/);
  });
});
