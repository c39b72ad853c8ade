import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRollout, rolloutResult, rolloutStatus, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import type { MetricSource } from '../../src/providers/metrics/metric-source';
import { ScrapeMetricSource } from '../../src/providers/metrics/scrape-source';
import { createRolloutDeps, createWorker } from '../../src/worker';
import { startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';
import { workflowBundle } from '../helpers/temporal-env';

// A rollout whose gate reads rates from a scrape source, with a history limit small enough that it continues as new
// several times: the gate must answer from data on the first observation of the first run (a source with no history)
// and on the first observation after each continue-as-new (the source's history lives on in the worker).
const planText = (url: string) => `
apiVersion: canary/v1
id: scrape-continuity
name: Scrape continuity
target: { flags: [scrape-continuity], provider: flagd, environment: e2e }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { svc: { type: scrape, url: "${url}", interval: 1s } }
metrics:
  error_rate:
    source: svc
    query: sum(rate(http_request_errors_total[10s])) / sum(rate(http_requests_total[10s]))
    unit: ratio
analysis: { interval: 1s }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: PHASEs }
  - { name: canary-50, percent: 50, minDuration: PHASEs }
  - { name: full, percent: 100, minDuration: PHASEs }
`;

function plan(url: string, id: string, phaseSeconds: number): Plan {
  const parsed = parsePlanText(planText(url).replaceAll('scrape-continuity', id).replaceAll('PHASE', String(phaseSeconds)), `${id}.yaml`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.plan;
}

type GateDetail = { runId: string; phase: string; detail: string };

/** Polls the rollout's status every 100 ms until it finishes, collecting each gate's detail, and returns its result. */
async function follow(dev: DevRollouts, id: string, onStatus: (phase: string, seen: number) => Promise<void> = async () => undefined) {
  const rollout = getRollout(dev.env.client, id);
  const details: GateDetail[] = [];
  const result = rolloutResult(rollout);
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    const [status, description] = await Promise.all([rolloutStatus(rollout).catch(() => undefined), rollout.describe()]);
    for (const gate of status?.gates ?? []) if (gate.detail) details.push({ runId: description.runId, phase: status?.phase ?? '', detail: gate.detail });
    if (status) await onStatus(status.phase, details.length);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { outcome: await result, details, lastRunId: (await rollout.describe()).runId };
}

/** A /metrics endpoint under steady load: 50 requests a second, none failing. */
async function startService(): Promise<{ url: string; stop(): Promise<void> }> {
  const started = Date.now();
  const server: Server = createServer((_req, res) => {
    const requests = Math.floor(((Date.now() - started) / 1000) * 50);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(`http_requests_total ${requests}\nhttp_request_errors_total 0\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('scrape source continuity on the dev server', () => {
  let dev: DevRollouts;
  let service: Awaited<ReturnType<typeof startService>>;

  beforeAll(async () => {
    service = await startService();
    dev = await startDevRollouts({ taskQueue: 'scrape-continuity' });
  });

  afterAll(async () => {
    await dev?.stop();
    await service?.stop();
  });

  test('gates read rates from data on the first observation and after every continue-as-new: never "no data"', async () => {
    const id = 'scrape-continuity';
    const handle = await startRollout(dev.env.client, plan(service.url, id, 2), { workflowId: id, taskQueue: 'scrape-continuity', maxHistoryEvents: 40 });
    const { outcome, details, lastRunId } = await follow(dev, id);

    expect(outcome.outcome).toBe('completed');
    expect(lastRunId).not.toBe(handle.firstExecutionRunId);
    expect(new Set(details.map((d) => d.runId)).size).toBeGreaterThanOrEqual(2);
    expect(details.filter((d) => d.detail.includes('no data'))).toEqual([]);
    expect(outcome.opsLog.filter((entry) => entry.reason.includes('no data'))).toEqual([]);
  }, 90_000);

  test("after a worker restart, the new worker's first observation answers the rate from data, not 'no data'", async () => {
    const id = 'scrape-restart';
    await startRollout(dev.env.client, plan(service.url, id, 3), { workflowId: id, taskQueue: 'scrape-restart' });
    // The restarted worker is a new process: its scrape sources start with no history (one per source, as in a worker).
    const freshSources = new Map<string, MetricSource>();
    const startWorker = () =>
      createWorker({
        connection: dev.env.nativeConnection,
        taskQueue: 'scrape-restart',
        workflowBundle: workflowBundle(),
        rolloutDeps: {
          ...createRolloutDeps({ flagFileRoot: dev.root, configFile: `${dev.root}/config.json` }),
          metricSource: (name, config) => {
            if (config.type !== 'scrape') return undefined;
            if (!freshSources.has(name)) freshSources.set(name, ScrapeMetricSource.fromConfig(config));
            return freshSources.get(name);
          },
        },
      });
    const first = await startWorker();
    const firstRunning = first.run();
    let second: { worker: Awaited<ReturnType<typeof startWorker>>; running: Promise<void> } | undefined;
    let restartedAt = 0;
    try {
      const { outcome, details } = await follow(dev, id, async (phase, seen) => {
        if (second || phase !== 'canary-50') return;
        // Mid-rollout: the worker goes away and a new one, with empty sources, takes over.
        first.shutdown();
        await firstRunning;
        freshSources.clear();
        restartedAt = seen;
        const worker = await startWorker();
        second = { worker, running: worker.run() };
      });
      expect(outcome.outcome).toBe('completed');
      expect(restartedAt).toBeGreaterThan(0);
      expect(details.slice(restartedAt).length).toBeGreaterThan(0);
      expect(details.filter((d) => d.detail.includes('no data'))).toEqual([]);
      expect(outcome.opsLog.filter((entry) => entry.reason.includes('no data'))).toEqual([]);
    } finally {
      if (first.getState() === 'RUNNING') first.shutdown();
      await firstRunning;
      if (second?.worker.getState() === 'RUNNING') second.worker.shutdown();
      await second?.running;
    }
  }, 90_000);
});
