/**
 * Drives the rollout machine on a virtual clock with effects a test controls: which flag writes fail, what metrics
 * read, which providers are offline. For machine rules that scenarios cannot express (the scenario world never fails
 * a flag write and has every provider online).
 */
import { feed, type Effects } from '../../src/domain/driver';
import { compiled } from './machine';
import { initialState, isSettled } from '../../src/domain/machine';
import type { RolloutCommand, RolloutState } from '../../src/domain/types';
import type { Plan } from '../../src/plan/schema';

export const MINUTE = 60_000;

export interface VirtualWorld {
  /** Stop at this virtual time (ms from 0) if the rollout has not settled. */
  horizon: number;
  /** `{ ok: false }` refuses the write; undefined lets it through. */
  setFlags?(command: Extract<RolloutCommand, { type: 'set-flags' }>, at: number): { ok: false; detail: string } | undefined;
  /** A metric's value at a time; every metric reads 0 by default. */
  metric?(name: string, at: number): number;
  /** True when reading the metric at that time fails (a source error). */
  failing?(name: string, at: number): boolean;
  /** The providers that do not answer at a time. */
  offline?(at: number): string[];
  /** Changes to the initial state (the rules of a rollout started by older code). */
  initial?: Partial<RolloutState>;
}

export interface VirtualRun {
  state: RolloutState;
  /** Flag writes that went through. */
  written: Array<{ at: number; percent: number; enabled: boolean }>;
  /** The ops log as `<minutes>m <action>: <reason>`. */
  log: string[];
}

/** Runs `plan` from time 0 until it settles or `world.horizon`. */
export async function driveVirtually(plan: Plan, world: VirtualWorld): Promise<VirtualRun> {
  const state = { ...initialState(0), ...world.initial };
  const written: VirtualRun['written'] = [];
  const effects: Effects = {
    setFlags: async (c) => {
      const refused = world.setFlags?.(c, state.now);
      if (refused) return refused;
      written.push({ at: state.now, percent: c.percent, enabled: c.enabled });
    },
    setConfig: async () => undefined,
    observe: async (c) => ({
      metrics: Object.fromEntries(
        c.metrics.map((m) => [m, world.failing?.(m, state.now) ? { status: 'error' as const, detail: 'source down' } : { status: 'ok' as const, value: world.metric?.(m, state.now) ?? 0 }]),
      ),
    }),
    checkProviders: async () => ({ offline: world.offline?.(state.now) ?? [] }),
    runTask: async () => ({ ok: true }),
    runCheck: async () => ({ ok: true }),
    notify: async () => undefined,
  };
  await feed(compiled(plan), state, { type: 'start', at: 0 }, effects);
  while (!isSettled(state) && state.wakeAt !== undefined && state.wakeAt <= world.horizon) {
    await feed(compiled(plan), state, { type: 'tick', at: state.wakeAt }, effects);
  }
  return { state, written, log: state.opsLog.map((e) => `${formatOffset(e.at)} ${e.action}: ${e.reason}`) };
}

/** 90s → "1m30s", 600s → "10m": minutes, and seconds when there are any. */
function formatOffset(ms: number): string {
  const minutes = Math.floor(ms / MINUTE);
  const seconds = Math.round((ms % MINUTE) / 1000);
  return `${minutes}m${seconds ? `${seconds}s` : ''}`;
}
