/**
 * Reaction latency on a local dev server, in real time, with the rollout worker in this process writing a flagd flag
 * file under a temporary directory:
 *
 * (a) approval → flag write: a plan of N+1 phases, each after the first released by a release-manager approval. For
 *     each phase the bench waits until the rollout is waiting for the approval (its minimum has passed), sends the
 *     approval as a signal and measures until the flag file shows the next phase's percentage.
 * (b) breach → rollback flag write, beyond the trigger's own `for`: a one-phase plan with the trigger
 *     `error_rate >= 0.05 for 2s → rollback`, reading an in-memory metric source that answers 0.001 until a known wall
 *     time and 0.5 from then on. Measured from that time + 2s until the flag file shows the flag off. The breach is
 *     first seen at the next evaluation tick, so the analysis interval bounds this figure from above (plus the
 *     workflow task and the flag write).
 *
 * The flag file is watched with fs.watch and, as a fallback, read every 5 ms. The bench prints p50 and p95 (nearest
 * rank), min and max of each measurement; it measures and reports, and exits 0.
 *
 * Run: npx tsx bench/latency.ts [--approvals 20] [--runs 10] [--interval 1s] [--for 2s]
 */
import { mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { rolloutResult, rolloutStatus, startRollout } from '../src/client';
import { startDevServer } from '../src/dev/dev-server';
import { tryParseDuration } from '../src/domain/duration';
import type { MetricReading } from '../src/domain/types';
import { formatIssue, parsePlanText } from '../src/plan/load';
import type { Plan } from '../src/plan/schema';
import type { MetricSource } from '../src/providers/metrics/metric-source';
import { createRolloutDeps, createWorker, workflowCodeOptions } from '../src/worker';
import { approveSignal } from '../src/workflows/messages';

const TASK_QUEUE = 'bench-latency';
const FLAG = 'checkout-v2';
const HEALTHY = 0.001;
const BREACHED = 0.5;

interface Settings {
  approvals: number;
  runs: number;
  interval: string;
  forDuration: string;
}

/** The flag's state as the flag file shows it; undefined while the file or the flag does not exist. */
interface FlagView {
  enabled: boolean;
  percent: number;
}

/** An error-rate source whose value jumps from healthy to breached at a wall time the bench sets. */
class BreachableSource implements MetricSource {
  breachAt = Infinity;

  async query(_metric: string, query: string): Promise<MetricReading> {
    return { status: 'ok', value: Date.now() >= this.breachAt ? BREACHED : HEALTHY, query };
  }

  async isOnline(): Promise<boolean> {
    return true;
  }
}

async function main(): Promise<void> {
  const settings = readSettings();
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  const { code } = await bundleWorkflowCode({
    ...workflowCodeOptions(),
    logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error },
  });
  const root = mkdtempSync(join(tmpdir(), 'canary-bench-latency-'));
  const source = new BreachableSource();
  const env = await startDevServer();
  const worker = await createWorker({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: { code },
    rolloutDeps: { ...createRolloutDeps({ flagFileRoot: root, configFile: join(root, 'config.json') }), metricSource: () => source },
  });
  const running = worker.run();
  try {
    console.log(`dev server ${env.address}; worker in this process; flag files under ${root}`);
    console.log(`analysis interval ${settings.interval} (metric reads and trigger evaluation run on it: it bounds (b))\n`);

    const approvals = await measureApprovals(env.client, root, settings);
    report(`(a) approval → flag write, ${approvals.length} approvals (signal sent → flag file shows the next phase)`, approvals);

    const breaches = await measureBreaches(env.client, root, source, settings);
    report(`(b) breach → rollback flag write beyond the trigger's for: ${settings.forDuration}, ${breaches.length} runs`, breaches);
  } finally {
    worker.shutdown();
    await running.catch(() => undefined);
    await env.teardown().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      approvals: { type: 'string', default: '20' },
      runs: { type: 'string', default: '10' },
      interval: { type: 'string', default: '1s' },
      for: { type: 'string', default: '2s' },
    },
  });
  const approvals = Number(values.approvals);
  const runs = Number(values.runs);
  if (!Number.isInteger(approvals) || approvals < 1) fail(`--approvals: expected a whole number of at least 1, got "${values.approvals}"`);
  if (!Number.isInteger(runs) || runs < 1) fail(`--runs: expected a whole number of at least 1, got "${values.runs}"`);
  for (const [name, value] of [['interval', values.interval], ['for', values.for]] as const) {
    if (tryParseDuration(value) === undefined) fail(`--${name}: expected a duration such as 1s or 500ms, got "${value}"`);
  }
  return { approvals, runs, interval: values.interval, forDuration: values.for };
}

/** (a): one approval per phase after the first; each measured from the signal to the flag file's new percentage. */
async function measureApprovals(client: Parameters<typeof startRollout>[0], root: string, settings: Settings): Promise<number[]> {
  const phases = Array.from({ length: settings.approvals + 1 }, (_, k) => ({
    name: `p${k}`,
    percent: k === settings.approvals ? 100 : Number((((k + 1) * 100) / (settings.approvals + 1)).toFixed(2)),
  }));
  const plan = loadPlan(`apiVersion: canary/v1
id: bench-approvals
name: Bench approvals
target: { flags: [${FLAG}], provider: flagd, environment: bench }
providers:
  flags: { flagd: { type: flagd-file, path: approvals.json } }
roles:
  release-manager: { members: [rm@example.com] }
analysis: { interval: ${settings.interval} }
phases:
${phases.map((p, k) => `  - { name: ${p.name}, percent: ${p.percent}, minDuration: 1s${k > 0 ? ', approvals: [{ role: release-manager }]' : ''} }`).join('\n')}
`);
  const file = join(root, 'approvals.json');
  const handle = await startRollout(client, plan, { workflowId: `bench-latency-approvals-${Date.now()}`, taskQueue: TASK_QUEUE });
  const latencies: number[] = [];
  for (let k = 1; k < phases.length; k++) {
    await until(async () => (await rolloutStatus(handle)).waitingFor.some((w) => w.startsWith('approval by release-manager')));
    const want = (phases[k] as { percent: number }).percent;
    const seen = observeFlag(file, (f) => f.enabled && f.percent === want);
    const sent = performance.now();
    await handle.signal(approveSignal, { role: 'release-manager', by: 'rm@example.com', id: `bench-approval-${k}` });
    latencies.push((await seen) - sent);
  }
  const result = await rolloutResult(handle);
  if (result.outcome !== 'completed') throw new Error(`the approvals rollout ended ${result.outcome}, not completed`);
  return latencies;
}

/** (b): one rollout per run; the metric breaches at a known wall time, at a random point between two ticks. */
async function measureBreaches(client: Parameters<typeof startRollout>[0], root: string, source: BreachableSource, settings: Settings): Promise<number[]> {
  const forMs = tryParseDuration(settings.forDuration) as number;
  const intervalMs = tryParseDuration(settings.interval) as number;
  const latencies: number[] = [];
  for (let run = 1; run <= settings.runs; run++) {
    source.breachAt = Infinity;
    const plan = loadPlan(`apiVersion: canary/v1
id: bench-breach
name: Bench breach
target: { flags: [${FLAG}], provider: flagd, environment: bench }
providers:
  flags: { flagd: { type: flagd-file, path: breach-${run}.json } }
  metrics: { in-memory: { type: scenario } }
metrics:
  error_rate: { source: in-memory, query: error_rate, unit: ratio }
analysis: { interval: ${settings.interval}, inconclusiveLimit: 1h }
triggers:
  - name: error-rate-hard-stop
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05, for: ${settings.forDuration} }
    action: rollback
phases:
  - { name: canary-10, percent: 10, minDuration: 1h }
`);
    const file = join(root, `breach-${run}.json`);
    const entered = observeFlag(file, (f) => f.enabled && f.percent === 10);
    const handle: WorkflowHandle = await startRollout(client, plan, { workflowId: `bench-latency-breach-${run}-${Date.now()}`, taskQueue: TASK_QUEUE });
    await entered;
    // A few healthy ticks first, then the breach at a random point between two ticks.
    await sleep(2 * intervalMs + Math.random() * intervalMs);
    const rolledBack = observeFlag(file, (f) => !f.enabled || f.percent === 0);
    const breachPerf = performance.now();
    source.breachAt = Date.now();
    latencies.push((await rolledBack) - (breachPerf + forMs));
    const result = await rolloutResult(handle);
    if (result.outcome !== 'rolled_back') throw new Error(`breach run ${run} ended ${result.outcome}, not rolled_back`);
  }
  return latencies;
}

/**
 * Resolves with performance.now() at the first moment the flag file shows a state that satisfies `wanted`: on each
 * change fs.watch reports in its directory, and on a 5 ms poll in case an event is missed.
 */
function observeFlag(file: string, wanted: (flag: FlagView) => boolean, timeoutMs = 60_000): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const check = () => {
      const flag = readFlag(file);
      if (flag && wanted(flag)) finish(performance.now());
    };
    const watcher = watch(dirname(file), check);
    const poll = setInterval(check, 5);
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${file} did not reach the expected state within ${timeoutMs / 1000} s: ${JSON.stringify(readFlag(file))}`));
    }, timeoutMs);
    const cleanup = () => {
      watcher.close();
      clearInterval(poll);
      clearTimeout(timer);
    };
    const finish = (at: number) => {
      cleanup();
      resolvePromise(at);
    };
    check();
  });
}

function readFlag(file: string): FlagView | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { flags?: Record<string, { state?: string; metadata?: { rolloutPercent?: number } }> };
    const flag = parsed.flags?.[FLAG];
    return flag ? { enabled: flag.state === 'ENABLED', percent: flag.metadata?.rolloutPercent ?? 0 } : undefined;
  } catch {
    // Missing, or caught between writes: the next event or poll reads it again.
    return undefined;
  }
}

function loadPlan(text: string): Plan {
  const loaded = parsePlanText(text, 'bench-latency.yaml');
  if (!loaded.ok) fail(loaded.issues.map(formatIssue).join('\n'));
  return loaded.plan;
}

async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`gave up waiting after ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

function report(title: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  console.log(title);
  console.log(`  p50 ${ms(rank(50))}   p95 ${ms(rank(95))}   min ${ms(sorted[0] as number)}   max ${ms(sorted.at(-1) as number)}`);
  console.log(`  samples: ${samples.map((v) => v.toFixed(0)).join(', ')}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
