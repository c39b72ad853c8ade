/**
 * The demo target with the real OpenFeature SDK and flagd in-process provider reading a flag file written by
 * FlagdFileStore, and the demo plan's own queries read through a scrape source.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startDemoTarget, type DemoTarget } from '../../src/demo/target-service';
import type { MetricReading } from '../../src/domain/types';
import { loadPlanFile } from '../../src/plan/load';
import { FlagdFileStore } from '../../src/providers/flags/flagd-file-store';
import { parseExposition } from '../../src/providers/metrics/exposition';
import { ScrapeMetricSource } from '../../src/providers/metrics/scrape-source';

const USERS = Array.from({ length: 2_000 }, (_, i) => `user-${i}`);

let dir: string;
let target: DemoTarget;
/** Cohort per user, as the target answered the first pass. */
const cohortOf = new Map<string, string>();
let errorRateQuery: string;
let p95Query: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'canary-demo-target-'));
  const flagFile = join(dir, 'flags.json');
  await new FlagdFileStore(flagFile).write('checkout-v2', { enabled: true, percent: 30 });
  target = await startDemoTarget({ flagFile, flagKey: 'checkout-v2' });
  const loaded = await loadPlanFile(resolve(__dirname, '..', '..', 'plans', 'demo.yaml'));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  errorRateQuery = loaded.plan.metrics.error_rate!.query;
  p95Query = loaded.plan.metrics.p95_latency_ms!.query;
});

afterAll(async () => {
  await target?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Sends one request per user (50 at a time) and returns the status and cohort of each answer. */
async function requestAll(users: readonly string[]): Promise<Array<{ user: string; status: number; cohort: string }>> {
  const answers: Array<{ user: string; status: number; cohort: string }> = [];
  for (let i = 0; i < users.length; i += 50) {
    const batch = await Promise.all(
      users.slice(i, i + 50).map(async (user) => {
        const response = await fetch(`${target.url}?user=${encodeURIComponent(user)}`);
        await response.arrayBuffer();
        return { user, status: response.status, cohort: response.headers.get('x-cohort') ?? '' };
      }),
    );
    answers.push(...batch);
  }
  return answers;
}

async function metricValues(): Promise<Record<string, number>> {
  const text = await (await fetch(target.metricsUrl)).text();
  const parsed = parseExposition(text);
  if (!parsed.ok) throw new Error(`line ${parsed.line}: ${parsed.detail}`);
  return Object.fromEntries(parsed.exposition.samples.map((s) => [`${s.name}${JSON.stringify(s.labels)}`, s.value]));
}

/** Reads `query` over the requests `work` sends: one scrape before, one after. */
async function readAround(query: string, work: () => Promise<unknown>): Promise<MetricReading> {
  const source = new ScrapeMetricSource({ url: target.metricsUrl });
  const ctx = { at: Date.now(), rolloutStartedAt: Date.now() };
  await source.query('before', query, ctx);
  await work();
  return source.query('after', query, ctx);
}

describe('the demo target', () => {
  it('routes 30% of users to the canary when the flag file says 30%, as the OpenFeature flagd provider evaluates it', async () => {
    const answers = await requestAll(USERS);
    for (const a of answers) cohortOf.set(a.user, a.cohort);
    const canary = answers.filter((a) => a.cohort === 'canary').length;
    const stable = answers.filter((a) => a.cohort === 'stable').length;
    expect(canary + stable).toBe(USERS.length);
    // flagd buckets by a hash of flag key and user id: deterministic, about 1 point of spread over 2,000 users.
    expect(Math.abs((canary / USERS.length) * 100 - 30)).toBeLessThanOrEqual(3.5);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(target.observedSplit(60_000)).toEqual({ stable, canary });
  });

  it('keeps a user on the same version from one request to the next', async () => {
    const again = await requestAll(USERS.slice(0, 200));
    expect(again.filter((a) => a.cohort !== cohortOf.get(a.user))).toEqual([]);
  });

  it('exposes requests, errors and a latency histogram per cohort in the Prometheus text format', async () => {
    const before = await metricValues();
    const answers = await requestAll(USERS.slice(0, 300));
    const after = await metricValues();
    for (const cohort of ['stable', 'canary']) {
      const served = answers.filter((a) => a.cohort === cohort).length;
      expect(served).toBeGreaterThan(0);
      const label = JSON.stringify({ cohort });
      expect(after[`demo_http_requests_total${label}`]! - before[`demo_http_requests_total${label}`]!).toBe(served);
      expect(after[`demo_http_request_errors_total${label}`]).toBe(0);
      expect(after[`demo_http_request_duration_seconds_count${label}`]).toBe(after[`demo_http_requests_total${label}`]);
      expect(after[`demo_http_request_duration_seconds_bucket${JSON.stringify({ cohort, le: '+Inf' })}`]).toBe(after[`demo_http_requests_total${label}`]);
    }
  });

  it('answers the demo plan error-rate query with 0 for a healthy canary', async () => {
    const reading = await readAround(errorRateQuery, () => requestAll(USERS.slice(0, 300)));
    expect(reading).toMatchObject({ status: 'ok', value: 0 });
  });

  it('fails only canary requests when an error rate is injected, and the plan query sees it', async () => {
    target.setFault({ errorRate: 0.5 });
    try {
      let answers: Awaited<ReturnType<typeof requestAll>> = [];
      const reading = await readAround(errorRateQuery, async () => {
        answers = await requestAll(USERS.slice(0, 1_000));
      });
      const canary = answers.filter((a) => a.cohort === 'canary');
      const stable = answers.filter((a) => a.cohort === 'stable');
      expect(stable.filter((a) => a.status !== 200)).toEqual([]);
      const failedShare = canary.filter((a) => a.status === 500).length / canary.length;
      expect(failedShare).toBeGreaterThan(0.3);
      expect(failedShare).toBeLessThan(0.7);
      expect(reading.status).toBe('ok');
      if (reading.status === 'ok') expect(reading.value).toBeCloseTo(failedShare, 5);
    } finally {
      target.setFault({});
    }
  });

  it('slows only canary requests when latency is injected, and the plan p95 query sees it', async () => {
    const canaryUsers = USERS.filter((u) => cohortOf.get(u) === 'canary').slice(0, 50);
    const stableUsers = USERS.filter((u) => cohortOf.get(u) === 'stable').slice(0, 50);
    target.setFault({ latencyMs: 300 });
    try {
      const stableP95Query = p95Query.replace('cohort="canary"', 'cohort="stable"');
      const source = new ScrapeMetricSource({ url: target.metricsUrl });
      const ctx = { at: Date.now(), rolloutStartedAt: Date.now() };
      await source.query('before', p95Query, ctx);
      await requestAll([...canaryUsers, ...stableUsers]);
      const canaryP95 = await source.query('canary', p95Query, ctx);
      const stableP95 = await source.query('stable', stableP95Query, ctx);
      expect(canaryP95.status).toBe('ok');
      expect(stableP95.status).toBe('ok');
      // Every canary answer waits the injected 300 ms at least; stable answers do not wait for it.
      if (canaryP95.status === 'ok' && stableP95.status === 'ok') {
        expect(canaryP95.value).toBeGreaterThanOrEqual(300);
        expect(stableP95.value).toBeLessThan(canaryP95.value);
      }
    } finally {
      target.setFault({});
    }
  });

  it('refuses a port that is taken, naming the address', async () => {
    const port = Number(new URL(target.url).port);
    await expect(startDemoTarget({ flagFile: join(dir, 'flags.json'), flagKey: 'checkout-v2', port })).rejects.toThrow(
      `the demo target cannot listen on 127.0.0.1:${port}: the port is taken`,
    );
  });
});
