/**
 * History events per evaluation tick. Runs a plan as the rollout workflow on the time-skipping test server at the
 * plan's own analysis interval, with metric reads as local activities (the production path: one marker event per
 * read), for N evaluation ticks of virtual time; then terminates it, walks the continue-as-new chain run by run and
 * prints the events of each run, the largest run (events and bytes), the total, the ticks (timer firings) and events
 * per tick, against the targets: at most 8 events per tick amortized and no run above 4,096 events.
 *
 * Every metric source of the plan reads the scenario (as in the equivalence test), flags go to a temporary directory
 * and notifications to the worker log. Without --scenario the scenario is empty: the rollout waits for its
 * preconditions, observing every interval and re-running its command and http checks every 5 minutes; with
 * --scenario (and no --plan) the scenario's own plan runs. Scenario events and stand-in task replies are
 * sent as signals at their times, one second later when that is exactly an evaluation tick (a signal that arrives as
 * a timer fires can wedge the test server); approvals and tokens marked `verified` are signed with a key generated
 * for their role, which the worker trusts.
 *
 * If the test server stops moving time while metric reads run as local activities (it does not know about them), the
 * measurement is repeated with regular activities and says so; --regular-activities asks for that directly. The
 * bench measures and reports; it exits 0 whether or not the targets hold.
 *
 * Run: npx tsx bench/history.ts [--plan plans/seed-003-phase9-production.yaml] [--scenario scenarios/<file>]
 *      [--ticks 3000] [--regular-activities]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { startRollout } from '../src/client';
import { startTimeSkippingServer } from '../src/dev/dev-server';
import { resolveTemporalBinary } from '../src/dev/temporal-binaries';
import { tryParseDuration } from '../src/domain/duration';
import type { RolloutEvent } from '../src/domain/types';
import { formatIssue, loadPlanFile } from '../src/plan/load';
import type { Plan } from '../src/plan/schema';
import { loadScenarioFile, Scenario } from '../src/simulate/scenario';
import { simulate } from '../src/simulate/simulator';
import { createRolloutDeps, createWorker, workflowCodeOptions } from '../src/worker';
import * as m from '../src/workflows/messages';
import { fetchHistoryChain } from '../src/cli/history-chain';
import { scenarioSigningKeys, signalRolloutEvent } from '../test/helpers/rollout-inputs';
import { withTimeNudges } from '../test/helpers/temporal-env';

const TARGET_EVENTS_PER_TICK = 8;
const TARGET_EVENTS_PER_RUN = 4_096;
const CHUNK_MS = 6 * 60 * 60_000;
/** Wall time without the server clock moving after which the test server counts as stuck. */
const STALL_MS = 90_000;
const EventType = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

interface Setup {
  plan: Plan;
  planFile: string;
  scenario: Scenario;
  scenarioLabel: string;
  ticks: number;
  regularOnly: boolean;
}

interface RunHistory {
  runId: string;
  events: HistoryEvent[];
  bytes: number;
}

class Stalled extends Error {
  override name = 'Stalled';
}

async function main(): Promise<void> {
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  const setup = await readSetup();
  const interval = setup.plan.analysis.interval;
  console.log(`plan ${setup.plan.id} (${setup.planFile}), scenario ${setup.scenarioLabel}`);
  console.log(`analysis interval ${interval}, ${setup.ticks} evaluation ticks ≈ ${hours(setup.ticks * intervalMs(setup.plan))} of virtual time`);

  const testServer = resolveTemporalBinary('test-server');
  const { code } = await bundleWorkflowCode({
    ...workflowCodeOptions(),
    logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error },
  });

  let localActivities = !setup.regularOnly;
  let runs: RunHistory[] | undefined;
  try {
    runs = await measure(setup, localActivities, code, testServer.executable);
  } catch (err) {
    if (!(err instanceof Stalled) || !localActivities) throw err;
    console.log(`\nthe time-skipping server stopped moving time with local activities (${err.message});`);
    console.log('measuring again with regular activities: THE FIGURES BELOW ARE FOR REGULAR ACTIVITIES, not the production path.\n');
    localActivities = false;
    runs = await measure(setup, localActivities, code, testServer.executable);
  }
  report(runs, localActivities);
}

async function readSetup(): Promise<Setup> {
  const { values } = parseArgs({
    options: {
      plan: { type: 'string' },
      scenario: { type: 'string' },
      ticks: { type: 'string', default: '3000' },
      'regular-activities': { type: 'boolean', default: false },
    },
  });
  const ticks = Number(values.ticks);
  if (!Number.isInteger(ticks) || ticks < 1) fail(`--ticks: expected a positive whole number, got "${values.ticks}"`);
  const scenario = values.scenario ? loadScenarioFile(values.scenario) : Scenario.parse({ duration: '0s' });
  // The scenario's own plan unless --plan names one.
  const planFile =
    values.plan ?? (values.scenario && scenario.plan ? resolve(dirname(values.scenario), scenario.plan) : 'plans/seed-003-phase9-production.yaml');
  const loaded = await loadPlanFile(planFile);
  if (!loaded.ok) fail(`${planFile} does not load:\n${loaded.issues.map(formatIssue).join('\n')}`);
  const label = values.scenario ? `${values.scenario}${scenario.name ? ` (${scenario.name})` : ''}` : 'empty (no metrics, no events)';
  return { plan: loaded.plan, planFile, scenario, scenarioLabel: label, ticks, regularOnly: values['regular-activities'] ?? false };
}

/** Runs the rollout for the wanted ticks on a fresh server and returns the history of every run in the chain. */
async function measure(setup: Setup, localActivities: boolean, code: string, executable: ReturnType<typeof resolveTemporalBinary>['executable']): Promise<RunHistory[]> {
  console.log(`metric reads as ${localActivities ? 'local activities (production path)' : 'regular activities'}`);
  const root = mkdtempSync(join(tmpdir(), 'canary-bench-history-'));
  const plan = benchPlan(setup.plan, root);
  const keys = await scenarioSigningKeys(plan);
  const env = await startTimeSkippingServer({ executable });
  const taskQueue = 'bench-history';
  const worker = await createWorker({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code },
    rolloutDeps: createRolloutDeps({ scenario: setup.scenario, flagFileRoot: root, configFile: join(root, 'config.json'), approverKeys: keys.approverKeys }),
  });
  const running = worker.run();
  const workflowId = `bench-history-${Date.now()}`;
  try {
    await alignToScenarioStart(env, setup.scenario);
    const handle = await startRollout(env.client, plan, { workflowId, taskQueue, localActivities });
    // The first run: nothing can have continued as new this early.
    const firstRunId = (await handle.describe()).runId;
    const started = (await handle.query(m.resultQuery)).opsLog[0]?.at ?? (await env.currentTimeMs());
    const horizon = started + setup.ticks * intervalMs(plan) + intervalMs(plan) / 2;
    const inputs = await scenarioInputs(plan, setup.scenario, started, horizon);
    const wall = performance.now();
    for (let now = await env.currentTimeMs(); now < horizon; now = await env.currentTimeMs()) {
      const next = inputs[0];
      const until = Math.min(horizon, now + CHUNK_MS, next ? next.sendAt : Infinity);
      if (until > now) await watchStall(env, withTimeNudges(env, workflowId, env.sleep(until - now)));
      while (inputs[0] && inputs[0].sendAt <= (await env.currentTimeMs())) await signalRolloutEvent(env.client, workflowId, (inputs.shift() as TimedInput).event, keys.sign);
      const reached = await env.currentTimeMs();
      console.log(`  virtual ${hours(reached - started)} after ${((performance.now() - wall) / 1000).toFixed(0)} s`);
      const status = (await handle.describe()).status.name;
      if (status !== 'RUNNING') {
        console.log(`  the rollout ended (${status}) before the wanted ticks`);
        break;
      }
    }
    const end = await handle.query(m.statusQuery).catch(() => undefined);
    if (end) console.log(`  the rollout at the end: ${end.status}, ${end.phase} at ${end.percent}%`);
    await handle.terminate('history bench: enough ticks').catch(() => undefined);
    return (await fetchHistoryChain(env.client, workflowId, firstRunId)).map(({ runId, history }) => ({
      runId,
      events: history.events ?? [],
      bytes: temporal.api.history.v1.History.encode(history).finish().byteLength,
    }));
  } finally {
    await env.client.workflow.getHandle(workflowId).terminate('history bench cleanup').catch(() => undefined);
    worker.shutdown();
    await Promise.race([running.catch(() => undefined), new Promise((r) => setTimeout(r, 15_000))]);
    await env.teardown().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * The plan as written, except that flags go to files under `root`, every metric source reads the scenario and every
 * channel is a `log` channel (a delivered notification costs the same events as a real one, and needs no secrets).
 */
function benchPlan(plan: Plan, root: string): Plan {
  const flags = Object.fromEntries(Object.keys(plan.providers.flags).map((k) => [k, { type: 'flagd-file' as const, path: join(root, `${k}.json`) }]));
  const metrics = Object.fromEntries(Object.keys(plan.providers.metrics).map((k) => [k, { type: 'scenario' as const }]));
  const channels = Object.fromEntries(Object.keys(plan.channels).map((k) => [k, { type: 'log' as const }]));
  return { ...plan, channels, providers: { ...plan.providers, flags, metrics } };
}

interface TimedInput {
  event: RolloutEvent;
  sendAt: number;
}

/**
 * What the simulator fed from outside before `horizon` (scenario events, stand-in task replies), each sent one second
 * late when it falls exactly on an evaluation tick.
 */
async function scenarioInputs(plan: Plan, scenario: Scenario, started: number, horizon: number): Promise<TimedInput[]> {
  const simulated = await simulate(plan, scenario, { start: started });
  const every = intervalMs(plan);
  return simulated.inputs
    .filter((event) => event.at < horizon)
    .map((event) => ({ event, sendAt: (event.at - started) % every === 0 ? event.at + 1_000 : event.at }));
}

/** Moves the server clock to the scenario's weekday and time of day, so calendars and daily tasks behave as planned. */
async function alignToScenarioStart(env: TestWorkflowEnvironment, scenario: Scenario): Promise<void> {
  const week = 7 * 24 * 60 * 60_000;
  const now = await env.currentTimeMs();
  const ahead = (((Date.parse(scenario.start) - now) % week) + week) % week;
  if (ahead > 0) await env.sleep(ahead);
}

/** Awaits `work`, failing with {@link Stalled} when the server clock has not moved for {@link STALL_MS}. */
async function watchStall<T>(env: TestWorkflowEnvironment, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    let last = -1;
    let since = performance.now();
    timer = setInterval(() => {
      void env.currentTimeMs().then((t) => {
        if (t !== last) {
          last = t;
          since = performance.now();
        } else if (performance.now() - since > STALL_MS) {
          reject(new Stalled(`server time stuck at ${new Date(t).toISOString()} for ${STALL_MS / 1000} s`));
        }
      }, () => undefined);
    }, 5_000);
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    clearInterval(timer);
  }
}

function report(runs: RunHistory[], localActivities: boolean): void {
  const all = runs.flatMap((r) => r.events);
  const ticks = all.filter((e) => e.eventType === EventType.EVENT_TYPE_TIMER_FIRED).length;
  const observations = all.filter((e) => activityTypeOf(e) === 'observeMetrics').length;
  const largest = runs.reduce((a, b) => (b.events.length > a.events.length ? b : a));
  const perTick = ticks > 0 ? all.length / ticks : Infinity;

  console.log(`\nresults (${localActivities ? 'local activities' : 'REGULAR activities'})`);
  console.log(`runs: ${runs.length}`);
  runs.forEach((r, i) => console.log(`  run ${i + 1} ${r.runId}: ${r.events.length} events, ${r.bytes.toLocaleString('en')} bytes, ends ${shortType(r.events.at(-1)?.eventType)}`));
  console.log(`largest run: ${largest.events.length} events, ${largest.bytes.toLocaleString('en')} bytes`);
  console.log(`total events: ${all.length}`);
  console.log(`evaluation ticks (timer firings): ${ticks}; metric observations: ${observations}`);
  console.log(`events per tick: ${perTick.toFixed(2)}`);
  console.log('events per tick by type:');
  const byType = new Map<string, number>();
  for (const e of all) byType.set(shortType(e.eventType), (byType.get(shortType(e.eventType)) ?? 0) + 1);
  for (const [type, count] of [...byType].sort((a, b) => b[1] - a[1])) console.log(`  ${type.padEnd(36)} ${String(count).padStart(7)}  ${(count / Math.max(1, ticks)).toFixed(2)}`);
  const byActivity = new Map<string, number>();
  for (const e of all) {
    const activity = activityTypeOf(e);
    if (activity) byActivity.set(activity, (byActivity.get(activity) ?? 0) + 1);
  }
  console.log('activities (regular and local) per tick:');
  for (const [activity, count] of [...byActivity].sort((a, b) => b[1] - a[1])) console.log(`  ${activity.padEnd(36)} ${String(count).padStart(7)}  ${(count / Math.max(1, ticks)).toFixed(2)}`);
  console.log(`${perTick <= TARGET_EVENTS_PER_TICK ? 'PASS' : 'MISS'} events per tick ${perTick.toFixed(2)} (target ≤ ${TARGET_EVENTS_PER_TICK})`);
  console.log(`${largest.events.length <= TARGET_EVENTS_PER_RUN ? 'PASS' : 'MISS'} largest run ${largest.events.length} events (target ≤ ${TARGET_EVENTS_PER_RUN.toLocaleString('en')})`);
}

/** The activity a scheduled activity or a local-activity marker is for. */
function activityTypeOf(event: HistoryEvent): string | undefined {
  const scheduled = event.activityTaskScheduledEventAttributes?.activityType?.name;
  if (scheduled) return scheduled;
  const data = event.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    const marker = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string };
    return marker.activity_type;
  } catch {
    return undefined;
  }
}

function shortType(type: temporal.api.enums.v1.EventType | null | undefined): string {
  return (EventType[type ?? 0] ?? String(type)).replace(/^EVENT_TYPE_/, '');
}

function intervalMs(plan: Plan): number {
  return tryParseDuration(plan.analysis.interval) ?? 30_000;
}

function hours(ms: number): string {
  return `${(ms / 3_600_000).toFixed(1)} h`;
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
