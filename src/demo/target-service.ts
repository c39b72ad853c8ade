/**
 * The demo target: a small checkout service with a stable and a canary version, routed per request by a feature flag
 * that the OpenFeature server SDK evaluates with the flagd provider in in-process file mode, watching the flag file
 * the rollout writes. The targeting key is the request's user id, so the split follows the flag's `fractional`
 * targeting and a user keeps their version while the percentage grows.
 *
 * It exposes Prometheus metrics per cohort on /metrics, which the demo plan's scrape source reads:
 *
 * ```
 * demo_http_requests_total{cohort="canary"} 1234
 * demo_http_request_errors_total{cohort="canary"} 0
 * demo_http_request_duration_seconds_bucket{cohort="canary",le="0.01"} 800   … _sum, _count
 * ```
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { NOOP_PROVIDER, OpenFeature } from '@openfeature/server-sdk';
import type { DemoFault } from './fault';

/** The two versions of the demo service. */
export type Cohort = 'stable' | 'canary';

/** Requests served per cohort. */
export type CohortCounts = Record<Cohort, number>;

export interface DemoTargetOptions {
  /** The flagd flag-definition file to watch; created with no flags when missing (the provider needs a file). */
  flagFile: string;
  /** The boolean flag that sends a request to the canary when true. */
  flagKey: string;
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Faults of the canary from the start; change them later with `setFault`. */
  fault?: DemoFault;
}

export interface DemoTarget {
  /** The checkout endpoint: `GET <url>?user=<id>` (or header `x-user-id`). */
  url: string;
  /** The Prometheus text exposition of the per-cohort metrics. */
  metricsUrl: string;
  /** Replaces the canary's faults (an empty object clears them). */
  setFault(fault: DemoFault): void;
  /** Requests routed to each cohort in the last `windowMs` (default 5 s, at most 60 s of history is kept). */
  observedSplit(windowMs?: number): CohortCounts;
  /** Stops serving, closes open connections and stops watching the flag file. */
  close(): Promise<void>;
}

/** Latency histogram buckets in seconds (Prometheus's default buckets, up to 5 s). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/** What each version costs per request, in ms, before any fault: "a few ms", with jitter. */
const BASE_LATENCY_MS: Record<Cohort, { min: number; jitter: number }> = {
  stable: { min: 6, jitter: 8 },
  canary: { min: 5, jitter: 8 },
};

const SPLIT_HISTORY_MS = 60_000;
const COHORTS: readonly Cohort[] = ['stable', 'canary'];
const FLAGD_SCHEMA = 'https://flagd.dev/schema/v0/flags.json';

let domainCounter = 0;

/**
 * Starts the demo target. Resolves once it listens and the flag file has been read; rejects with an error naming the
 * file when the flag file cannot be read as a flag-definition file, and naming the address when the port is taken
 * (`EADDRINUSE`).
 *
 * Routing: a request whose flag evaluates to true goes to the canary. A missing flag, a disabled flag and a request
 * without a user id (it gets a fresh random id) follow the flag's rules: default `off`, so stable. The flagd provider
 * polls the file (about every 5 s), so a written change reaches the routing within a few seconds.
 *
 * Faults apply to the canary only: `errorRate` answers that share of its requests with HTTP 500, `latencyMs` delays
 * every canary answer by that much. Latency is measured from the request's arrival to its answer.
 */
export async function startDemoTarget(options: DemoTargetOptions): Promise<DemoTarget> {
  const flagFile = resolve(options.flagFile);
  await ensureFlagFile(flagFile);

  domainCounter += 1;
  const domain = `demo-target-${process.pid}-${domainCounter}`;
  const provider = new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: flagFile });
  try {
    await OpenFeature.setProviderAndWait(domain, provider);
  } catch (err) {
    await provider.onClose().catch(() => undefined);
    throw new Error(`the demo target cannot read the flag file ${flagFile}: ${(err as Error).message}; fix or remove the file`);
  }
  const flags = OpenFeature.getClient(domain);

  let fault: DemoFault = { ...options.fault };
  const metrics = new CohortMetrics();
  const recent: Array<{ at: number; cohort: Cohort }> = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://demo.local');
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(metrics.exposition());
      return;
    }
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (url.pathname !== '/' && url.pathname !== '/checkout') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try GET /checkout?user=<id> or /metrics\n');
      return;
    }
    const header = req.headers['x-user-id'];
    const user = url.searchParams.get('user') ?? (typeof header === 'string' ? header : undefined) ?? randomUUID();
    const canary = await flags.getBooleanValue(options.flagKey, false, { targetingKey: user });
    const cohort: Cohort = canary ? 'canary' : 'stable';
    const now = Date.now();
    recent.push({ at: now, cohort });
    while (recent.length > 0 && recent[0]!.at < now - SPLIT_HISTORY_MS) recent.shift();

    const base = BASE_LATENCY_MS[cohort];
    let delay = base.min + Math.random() * base.jitter;
    let failed = false;
    if (cohort === 'canary') {
      delay += fault.latencyMs ?? 0;
      failed = Math.random() < (fault.errorRate ?? 0);
    }
    await sleep(delay);
    const body = failed
      ? { error: 'checkout failed (injected fault)', cohort, version: 'v2' }
      : { ok: true, cohort, version: cohort === 'canary' ? 'v2' : 'v1' };
    res.writeHead(failed ? 500 : 200, { 'content-type': 'application/json', 'x-cohort': cohort });
    res.end(JSON.stringify(body));
    metrics.observe(cohort, failed, (performance.now() - started) / 1000);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`demo target error: ${(err as Error).message}\n`);
    });
  });
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', rejectListen);
        resolveListen();
      });
    });
  } catch (err) {
    await closeProvider(domain, provider);
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'EADDRINUSE'
        ? `the demo target cannot listen on ${host}:${options.port}: the port is taken; stop what uses it or choose another port`
        : `the demo target cannot listen on ${host}:${options.port ?? 0}: ${(err as Error).message}`,
    );
  }
  const { port } = server.address() as AddressInfo;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: `${base}/checkout`,
    metricsUrl: `${base}/metrics`,
    setFault(next) {
      fault = { ...next };
    },
    observedSplit(windowMs = 5_000) {
      const from = Date.now() - windowMs;
      const counts: CohortCounts = { stable: 0, canary: 0 };
      for (const entry of recent) if (entry.at >= from) counts[entry.cohort] += 1;
      return counts;
    },
    async close() {
      await new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
      await closeProvider(domain, provider);
    },
  };
}

/** Per-cohort counters and latency histogram, exported with every series present from the start (0 until used). */
class CohortMetrics {
  private readonly requests: CohortCounts = { stable: 0, canary: 0 };
  private readonly errors: CohortCounts = { stable: 0, canary: 0 };
  private readonly buckets: Record<Cohort, number[]> = { stable: LATENCY_BUCKETS.map(() => 0), canary: LATENCY_BUCKETS.map(() => 0) };
  private readonly count: CohortCounts = { stable: 0, canary: 0 };
  private readonly sum: CohortCounts = { stable: 0, canary: 0 };

  observe(cohort: Cohort, failed: boolean, seconds: number): void {
    this.requests[cohort] += 1;
    if (failed) this.errors[cohort] += 1;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.buckets[cohort][i]! += 1;
    });
    this.count[cohort] += 1;
    this.sum[cohort] += seconds;
  }

  exposition(): string {
    const lines = [
      '# HELP demo_http_requests_total Checkout requests answered, by cohort.',
      '# TYPE demo_http_requests_total counter',
      ...COHORTS.map((c) => `demo_http_requests_total{cohort="${c}"} ${this.requests[c]}`),
      '# HELP demo_http_request_errors_total Checkout requests answered with HTTP 5xx, by cohort.',
      '# TYPE demo_http_request_errors_total counter',
      ...COHORTS.map((c) => `demo_http_request_errors_total{cohort="${c}"} ${this.errors[c]}`),
      '# HELP demo_http_request_duration_seconds Checkout latency from arrival to answer, by cohort.',
      '# TYPE demo_http_request_duration_seconds histogram',
    ];
    for (const c of COHORTS) {
      LATENCY_BUCKETS.forEach((bound, i) => lines.push(`demo_http_request_duration_seconds_bucket{cohort="${c}",le="${bound}"} ${this.buckets[c][i]}`));
      lines.push(`demo_http_request_duration_seconds_bucket{cohort="${c}",le="+Inf"} ${this.count[c]}`);
      lines.push(`demo_http_request_duration_seconds_sum{cohort="${c}"} ${this.sum[c]}`);
      lines.push(`demo_http_request_duration_seconds_count{cohort="${c}"} ${this.count[c]}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

/** Creates an empty flag-definition file when there is none; an existing file is left as it is. */
async function ensureFlagFile(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, `${JSON.stringify({ $schema: FLAGD_SCHEMA, flags: {} }, null, 2)}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create the flag file ${path}: ${(err as Error).message}`);
  }
}

async function closeProvider(domain: string, provider: FlagdProvider): Promise<void> {
  // Replacing the domain's provider releases it in the SDK; closing it stops the file watch that keeps Node alive.
  OpenFeature.setProvider(domain, NOOP_PROVIDER);
  await provider.onClose().catch(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
