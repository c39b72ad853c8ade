/**
 * Runs one scenario two ways — the simulator, and the rollout workflow on the time-skipping server with its metrics
 * activity reading the same scenario — and returns both decision timelines for comparison. The workflow receives the
 * very inputs the simulator fed (scenario events and stand-in replies), as signals at the same moments.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { rolloutResult, startRollout } from '../../src/client';
import { tryParseDuration } from '../../src/domain/duration';
import type { RolloutResult } from '../../src/domain/types';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { MemoryNotifier } from '../../src/providers/notify/notifier';
import { loadScenarioFile, type Scenario } from '../../src/simulate/scenario';
import { simulate, withAnalysisInterval, type SimulationResult } from '../../src/simulate/simulator';
import { createRolloutDeps, createWorker } from '../../src/worker';
import * as m from '../../src/workflows/messages';
import { fetchHistoryChain } from '../../src/cli/history-chain';
import { scenarioSigningKeys, signalRolloutEvent } from './rollout-inputs';
import { createTimeSkippingEnv, withTimeNudges, workflowBundle } from './temporal-env';

/** One decision, compared by what a reader of the ops log sees: second, phase, action, reason. */
export type DecisionLine = string;

export interface EquivalenceRun {
  scenario: Scenario;
  interval: string;
  simulated: SimulationResult;
  workflow: RolloutResult;
  simulatedLines: DecisionLine[];
  workflowLines: DecisionLine[];
}

const MINUTE = 60_000;

/**
 * The evaluation interval used for a scenario in the workflow: the plan's own for short scenarios, coarser for long
 * ones (about 300 ticks at most), in whole multiples of 5 minutes. Both sides run at the same interval.
 */
export function equivalenceInterval(plan: Plan, scenario: Scenario): string {
  const planMs = tryParseDuration(plan.analysis.interval) ?? 30_000;
  const span = tryParseDuration(scenario.duration) ?? 0;
  const wanted = Math.max(planMs, Math.ceil(span / 300 / (5 * MINUTE)) * 5 * MINUTE);
  return wanted % MINUTE === 0 ? `${wanted / MINUTE}m` : `${wanted / 1000}s`;
}

/** Loads a scenario and the plan it names (relative to the scenario file). */
export async function scenarioWithPlan(file: string): Promise<{ scenario: Scenario; plan: Plan }> {
  const scenario = loadScenarioFile(file);
  if (!scenario.plan) throw new Error(`${file}: the scenario must name its plan`);
  const loaded = await loadPlanFile(resolve(dirname(file), scenario.plan));
  if (!loaded.ok) throw new Error(`${scenario.plan}: ${JSON.stringify(loaded.issues)}`);
  return { scenario, plan: loaded.plan };
}

const line = (d: { at: number; phase: string; action: string; reason: string }): DecisionLine =>
  `${new Date(Math.floor(d.at / 1000) * 1000).toISOString()} ${d.phase} ${d.action}: ${d.reason}`;

/** Runs `file` through the simulator and through the workflow on a fresh time-skipping server. */
export async function runEquivalence(file: string): Promise<EquivalenceRun> {
  const { scenario, plan: original } = await scenarioWithPlan(file);
  const interval = equivalenceInterval(original, scenario);
  const root = mkdtempSync(join(tmpdir(), 'canary-equivalence-'));
  // Flags go to a file of this run; everything else is the seed plan as written, evaluated every `interval`.
  const plan = withAnalysisInterval(
    { ...original, providers: { ...original.providers, flags: Object.fromEntries(Object.keys(original.providers.flags).map((k) => [k, { type: 'flagd-file' as const, path: join(root, 'flags.json') }])) } },
    interval,
  );
  // Metrics come from the scenario, whatever source the plan names.
  const sim: Plan = { ...plan, providers: { ...plan.providers, metrics: Object.fromEntries(Object.keys(plan.providers.metrics).map((k) => [k, { type: 'scenario' as const }])) } };

  const keys = await scenarioSigningKeys(sim);
  const env = await createTimeSkippingEnv();
  const worker = await createWorker({
    connection: env.nativeConnection,
    taskQueue: 'equivalence',
    workflowBundle: workflowBundle(),
    rolloutDeps: createRolloutDeps({
      scenario,
      flagFileRoot: root,
      configFile: join(root, 'config.json'),
      approverKeys: keys.approverKeys,
      // Notifications stay in memory: a backtest never pages anyone.
      notifier: () => new MemoryNotifier(),
    }),
  });
  const running = worker.run();
  try {
    await alignToScenarioStart(env, scenario);
    const workflowId = `equivalence-${Date.now()}`;
    const handle = await startRollout(env.client, sim, { workflowId, taskQueue: 'equivalence', localActivities: false });
    // The rollout takes its flag locks (an activity) before it starts: wait for its first decision.
    let started: number | undefined;
    for (let tries = 0; started === undefined && tries < 200; tries++) {
      started = (await handle.query(m.resultQuery)).opsLog[0]?.at;
      if (started === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (started === undefined) throw new Error('the rollout did not start');
    const simulated = await simulate(sim, scenario, { start: started });

    const tick = tryParseDuration(interval) ?? 30_000;
    for (const event of simulated.inputs) {
      // The time-skipping server can wedge when a signal lands exactly as a timer fires; scenarios keep events off
      // the evaluation grid (an odd number of seconds after a whole minute does it).
      if ((event.at - started) % tick === 0) {
        throw new Error(`${file}: a ${event.type} event at +${(event.at - started) / 1000}s falls on an evaluation tick (every ${interval}); move it a few seconds off`);
      }
      const now = await env.currentTimeMs();
      if (event.at > now) await withTimeNudges(env, workflowId, env.sleep(event.at - now));
      await signalRolloutEvent(env.client, workflowId, event, keys.sign);
    }
    let workflow: RolloutResult;
    if (simulated.result.outcome === 'held') {
      const horizon = started + (tryParseDuration(scenario.duration) ?? 0);
      const now = await env.currentTimeMs();
      if (horizon > now) await withTimeNudges(env, workflowId, env.sleep(horizon - now - 1));
      workflow = await handle.query(m.resultQuery);
      await handle.terminate('scenario horizon reached');
    } else {
      workflow = await withTimeNudges(env, workflowId, rolloutResult(handle));
    }
    if (process.env.RECORD_HISTORIES) await recordHistories(env, workflowId, handle.firstExecutionRunId, file);
    return { scenario, interval, simulated, workflow, simulatedLines: simulated.result.decisions.map(line), workflowLines: workflow.decisions.map(line) };
  } finally {
    worker.shutdown();
    await running;
    await env.teardown();
  }
}

/** Moves the server clock to the scenario's weekday and time of day, so calendars and daily tasks behave the same. */
async function alignToScenarioStart(env: TestWorkflowEnvironment, scenario: Scenario): Promise<void> {
  const week = 7 * 24 * 60 * MINUTE;
  const want = Date.parse(scenario.start);
  const now = await env.currentTimeMs();
  const ahead = (((want - now) % week) + week) % week;
  if (ahead > 0) await env.sleep(ahead);
}

/** Where recorded histories are kept: one JSON file per scenario, holding every run of its continue-as-new chain. */
export const HISTORY_FIXTURES = resolve(__dirname, '..', 'fixtures', 'histories');

/** A recorded history file, as written by RECORD_HISTORIES=1 (`encoding` absent: plain base64 protobuf). */
export interface RecordedHistories {
  scenario: string;
  workflowId: string;
  encoding?: 'gzip+base64';
  runs: string[];
}

/** The histories of a recorded file, decoded. */
export function decodeRecordedHistories(recorded: RecordedHistories): Array<{ workflowId: string; history: temporal.api.history.v1.IHistory }> {
  return recorded.runs.map((run) => {
    const bytes = Buffer.from(run, 'base64');
    return { workflowId: recorded.workflowId, history: temporal.api.history.v1.History.decode(recorded.encoding === 'gzip+base64' ? gunzipSync(bytes) : bytes) };
  });
}

/** Saves the histories of every run of the rollout (RECORD_HISTORIES=1 npx jest test/workflows/equivalence.test.ts). */
async function recordHistories(env: TestWorkflowEnvironment, workflowId: string, firstRunId: string, scenarioFile: string): Promise<void> {
  const runs = (await fetchHistoryChain(env.client, workflowId, firstRunId)).map(({ history }) =>
    gzipSync(temporal.api.history.v1.History.encode(history).finish(), { level: 9 }).toString('base64'),
  );
  mkdirSync(HISTORY_FIXTURES, { recursive: true });
  const file = join(HISTORY_FIXTURES, basename(scenarioFile).replace(/\.yaml$/, '.json'));
  // The history protobuf, gzipped and base64-encoded: exactly what the server returned, as text.
  writeFileSync(file, `${JSON.stringify({ scenario: basename(scenarioFile), workflowId, encoding: 'gzip+base64', runs }, null, 1)}\n`);
}
