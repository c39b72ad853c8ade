/**
 * A steady load on the demo target: `rps` requests per second, each as one of `users` user ids picked at random, so
 * the flag's per-user bucketing sees many users and the split approaches the flag's percentage.
 */
import { Agent, request } from 'node:http';

export interface LoadOptions {
  /** The target's checkout URL; each request adds `?user=<id>`. */
  url: string;
  /** Requests per second (default 100). */
  rps?: number;
  /** Distinct user ids to draw from (default 5,000). */
  users?: number;
  /** Requests allowed in flight at once; beyond that, a tick's requests are skipped and counted (default 200). */
  maxInFlight?: number;
}

/** What the load has seen so far. */
export interface LoadStats {
  /** Requests sent. */
  sent: number;
  /** Answered 2xx. */
  ok: number;
  /** Answered with any other status. */
  failed: number;
  /** Not answered at all (connection refused, reset). */
  unreachable: number;
  /** Not sent because too many were in flight. */
  skipped: number;
  /** Answers per cohort, from the target's `x-cohort` header. */
  byCohort: Record<string, number>;
}

export interface Load {
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
  stats(): LoadStats;
}

const TICK_MS = 50;

/**
 * Starts sending requests at once. Requests are spread over 50 ms ticks; fractional rates carry over between ticks,
 * so 30 rps sends 30 per second. A target that does not answer is counted, never thrown.
 */
export function startLoad(options: LoadOptions): Load {
  const rps = options.rps ?? 100;
  const users = Math.max(1, options.users ?? 5_000);
  const maxInFlight = options.maxInFlight ?? 200;
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const stats: LoadStats = { sent: 0, ok: 0, failed: 0, unreachable: 0, skipped: 0, byCohort: {} };
  const inFlight = new Set<Promise<void>>();
  let credit = 0;

  const send = (): Promise<void> =>
    new Promise<void>((resolveSend) => {
      const target = new URL(options.url);
      target.searchParams.set('user', `user-${Math.floor(Math.random() * users)}`);
      stats.sent += 1;
      const req = request(target, { agent, method: 'GET' }, (res) => {
        const cohort = res.headers['x-cohort'];
        if (typeof cohort === 'string') stats.byCohort[cohort] = (stats.byCohort[cohort] ?? 0) + 1;
        if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) stats.ok += 1;
        else stats.failed += 1;
        res.resume();
        res.on('end', resolveSend);
        res.on('error', resolveSend);
      });
      req.on('error', () => {
        stats.unreachable += 1;
        resolveSend();
      });
      req.end();
    });

  const timer = setInterval(() => {
    credit += (rps * TICK_MS) / 1000;
    while (credit >= 1) {
      credit -= 1;
      if (inFlight.size >= maxInFlight) {
        stats.skipped += 1;
        continue;
      }
      const pending = send().finally(() => inFlight.delete(pending));
      inFlight.add(pending);
    }
  }, TICK_MS);

  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
    },
    stats: () => ({ ...stats, byCohort: { ...stats.byCohort } }),
  };
}
