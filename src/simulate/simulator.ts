/**
 * The simulator: drives the rollout machine through a scenario on a virtual clock — no Temporal, no I/O — and
 * returns the decision timeline and the outcome. The same machine and the same command interpreter as the workflow.
 */
import { feed, type Effects } from '../domain/driver';
import { initialState, isSettled, resultOf } from '../domain/machine';
import type { Plan } from '../plan/schema';
import type { MetricReading, Outcome, RolloutEvent, RolloutResult, RolloutState } from '../domain/types';
import { findPlanTask } from '../plan/tasks';
import { readingAt, scenarioEvents, scenarioStart, type Scenario } from './scenario';
import { compilePlan } from '../plan/compile';
import { tryParseDuration } from '../domain/duration';

export interface SimulationResult {
  outcome: Outcome;
  finalPercent: number;
  decisions: Array<{ at: string; offset: string; phase: string; action: string; reason: string }>;
  /** Flag key → last written state. */
  flags: Record<string, { percent: number; enabled: boolean }>;
  config: Record<string, string | number | boolean>;
  notifications: Array<{ at: string; event: string; channels: string[]; message: string }>;
  result: RolloutResult;
  ticks: number;
  state: RolloutState;
  /** Every event from outside (scenario events and stand-in replies) in the order fed: what a workflow would receive. */
  inputs: RolloutEvent[];
}

/**
 * The plan evaluated every `interval` instead of its own analysis interval — for long backtests and for running a
 * scenario through the workflow on the time-skipping server, where each tick costs a workflow task.
 */
export function withAnalysisInterval(plan: Plan, interval: string): Plan {
  return { ...plan, analysis: { ...plan.analysis, interval } };
}

/** Runs `plan` against `scenario` until the rollout finishes or the scenario's duration ends. */
export async function simulate(plan: Plan, scenario: Scenario, options: { start?: number } = {}): Promise<SimulationResult> {
  const start = options.start ?? scenarioStart(scenario);
  const horizon = start + (tryParseDuration(scenario.duration) ?? 0);
  const state = initialState(start);
  const flags: SimulationResult['flags'] = {};
  const config: SimulationResult['config'] = {};
  const notifications: SimulationResult['notifications'] = [];
  const effects = scenarioEffects(plan, scenario, state, flags, config, notifications);
  const compiled = compilePlan(plan);

  await feed(compiled, state, { type: 'start', at: start }, effects);
  const events = scenarioEvents(scenario, start);
  const inputs: RolloutEvent[] = [];
  const responder = taskResponder(plan, scenario);
  // Tasks assigned by the start itself (a first phase entered at once) are answered like any other.
  for (const reply of responder(state)) insertByTime(events, reply);
  let ticks = 0;
  while (!isSettled(state)) {
    const nextEvent = events[0];
    const wake = state.wakeAt;
    const t = Math.min(nextEvent?.at ?? Infinity, wake ?? Infinity);
    if (!Number.isFinite(t) || t > horizon) break;
    // A timer due at the same moment as an event goes first, as it does in the workflow (the timer was there first).
    if (nextEvent && nextEvent.at < (wake ?? Infinity)) {
      events.shift();
      inputs.push(nextEvent);
      await feed(compiled, state, nextEvent, effects);
    } else {
      ticks++;
      await feed(compiled, state, { type: 'tick', at: t }, effects);
    }
    for (const reply of responder(state)) insertByTime(events, reply);
  }
  const result = resultOf(compiled, state);
  return {
    outcome: result.outcome,
    finalPercent: result.finalPercent,
    decisions: result.decisions.map((d) => ({ ...d, at: new Date(d.at).toISOString(), offset: offsetText(d.at - start) })),
    flags,
    config,
    notifications,
    result,
    ticks,
    state,
    inputs,
  };
}

/** A command or http task in a scenario's world: it succeeds unless the scenario lists it as failing. */
export function scenarioTaskOutcome(scenario: Scenario, task: string): { ok: boolean; detail?: string } {
  return scenario.failingTasks.includes(task) ? { ok: false, detail: 'failed in scenario' } : { ok: true, detail: 'passed in scenario' };
}

/** A command or http check (by its key) in a scenario's world: it passes unless the scenario lists it as failing. */
export function scenarioCheckOutcome(scenario: Scenario, check: string): { ok: boolean; detail?: string } {
  return scenario.failingChecks.includes(check) ? { ok: false, detail: 'failed in scenario' } : { ok: true, detail: 'passed in scenario' };
}

/** Inserts `event` after every event at the same time or earlier, keeping the list in time order. */
function insertByTime(events: RolloutEvent[], event: RolloutEvent): void {
  let i = events.length;
  while (i > 0 && (events[i - 1]?.at ?? 0) > event.at) i--;
  events.splice(i, 0, event);
}

/**
 * The scenario's stand-in for people doing manual tasks: each manual task is reported done `respond.tasks.after`
 * after it was assigned, by the first member of its role.
 */
function taskResponder(plan: Plan, scenario: Scenario): (state: RolloutState) => RolloutEvent[] {
  const after = tryParseDuration(scenario.respond?.tasks?.after ?? '');
  if (after === undefined) return () => [];
  const answered = new Map<string, number>();
  // Every assignment is written to the ops log: nothing new to answer while it has not grown.
  let seen = -1;
  return (state) => {
    const replies: RolloutEvent[] = [];
    if (state.opsLog.length === seen) return replies;
    seen = state.opsLog.length;
    for (const [key, run] of Object.entries(state.taskRuns)) {
      if (run.ok !== undefined || answered.get(key) === run.at) continue;
      const split = key.indexOf(':');
      const scope = key.slice(0, split);
      const task = findPlanTask(plan, scope, key.slice(split + 1));
      if (task?.run.type !== 'manual') continue;
      answered.set(key, run.at);
      const role = task.run.role;
      const by = (role && plan.roles[role]?.members[0]) ?? `${role ?? 'operator'}@scenario`;
      replies.push({ type: 'task-result', at: run.at + after, task: task.name, scope, ok: true, by });
    }
    return replies;
  };
}

/** Side effects answered from the scenario: metrics and checks from its values, tasks succeed unless listed failing. */
export function scenarioEffects(
  plan: Plan,
  scenario: Scenario,
  state: RolloutState,
  flags: SimulationResult['flags'],
  config: SimulationResult['config'],
  notifications: SimulationResult['notifications'],
): Effects {
  const queriesByList = new WeakMap<string[], Array<string | undefined>>();
  return {
    setFlags: async (c) => {
      for (const key of c.flags) flags[key] = { percent: c.percent, enabled: c.enabled };
    },
    setConfig: async (c) => {
      config[c.key] = c.value;
    },
    observe: async (c) => {
      const metrics: Record<string, MetricReading> = {};
      const offset = state.now - state.startedAt;
      // The machine asks for the same list object while the rollout stays where it is: resolve queries once per list.
      let queries = queriesByList.get(c.metrics);
      if (!queries) queriesByList.set(c.metrics, (queries = c.metrics.map((m) => plan.metrics[m]?.query)));
      for (let i = 0; i < c.metrics.length; i++) {
        const m = c.metrics[i] as string;
        metrics[m] = readingAt(scenario, m, offset, queries[i]);
      }
      const flags: Record<string, string | number | boolean | undefined> = {};
      for (const f of c.flags) flags[f] = scenario.flags[f];
      return { metrics, flags };
    },
    // A scenario's world has every provider online.
    checkProviders: async () => ({ offline: [] }),
    runTask: async (c) => scenarioTaskOutcome(scenario, c.task),
    runCheck: async (c) => scenarioCheckOutcome(scenario, c.check),
    notify: async (c) => {
      notifications.push({ at: new Date(state.now).toISOString(), event: c.event, channels: c.channels, message: c.message });
    },
  };
}

function offsetText(ms: number): string {
  const totalMinutes = Math.floor(ms / 60_000);
  const d = Math.floor(totalMinutes / 1440);
  const h = Math.floor((totalMinutes % 1440) / 60);
  const m = totalMinutes % 60;
  const s = Math.floor((ms % 60_000) / 1000);
  return `+${d ? `${d}d` : ''}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}
