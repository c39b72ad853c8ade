/**
 * The simulator: drives the rollout machine through a scenario on a virtual clock — no Temporal, no I/O — and
 * returns the decision timeline and the outcome. The same machine and the same command interpreter as the workflow.
 */
import { feed, type Effects } from '../domain/driver';
import { initialState, isFinished, resultOf } from '../domain/machine';
import type { Plan } from '../plan/schema';
import type { Outcome, RolloutResult, RolloutState } from '../domain/types';
import { readingAt, scenarioEvents, scenarioStart, type Scenario } from './scenario';
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

  await feed(plan, state, { type: 'start', at: start }, effects);
  const events = scenarioEvents(scenario, start);
  let i = 0;
  let ticks = 0;
  while (!isFinished(state)) {
    const nextEvent = events[i];
    const wake = state.wakeAt;
    const t = Math.min(nextEvent?.at ?? Infinity, wake ?? Infinity);
    if (!Number.isFinite(t) || t > horizon) break;
    if (nextEvent && nextEvent.at <= (wake ?? Infinity)) {
      i++;
      await feed(plan, state, nextEvent, effects);
    } else {
      ticks++;
      await feed(plan, state, { type: 'tick', at: t }, effects);
    }
  }
  const result = resultOf(plan, state);
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
  return {
    setFlags: async (c) => {
      for (const key of c.flags) flags[key] = { percent: c.percent, enabled: c.enabled };
    },
    setConfig: async (c) => {
      config[c.key] = c.value;
    },
    observe: async (c) => ({
      metrics: Object.fromEntries(c.metrics.map((m) => [m, readingAt(scenario, m, state.now - state.startedAt, plan.metrics[m]?.query)])),
      flags: Object.fromEntries(c.flags.map((f) => [f, scenario.flags[f]])),
    }),
    runTask: async (c) =>
      scenario.failingTasks.includes(c.task) ? { ok: false, detail: 'failed in scenario' } : { ok: true },
    runCheck: async (c) =>
      scenario.failingChecks.includes(c.check) ? { ok: false, detail: 'failed in scenario' } : { ok: true },
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
