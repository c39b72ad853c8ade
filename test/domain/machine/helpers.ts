/**
 * Shared helpers of the machine's per-module tests: a rollout fed plain machine events through `apply` (the same entry
 * point the workflow uses), and a rollout driven on a virtual clock through the real interpreter (`feed`) with a world
 * the test controls — metrics, flag writes, task and check results — from any start instant (time zones and weekdays
 * need real dates; test/helpers/virtual-driver.ts always starts at 0). Nothing here decides anything: the machine does.
 */
import { feed, type Effects } from '../../../src/domain/driver';
import { apply, compiled, initialState, isSettled } from '../../helpers/machine';
import type { MessageEvent, MetricReading, OperatorCommand, OpsLogEntry, RolloutCommand, RolloutEvent, RolloutState } from '../../../src/domain/types';
import type { Plan } from '../../../src/plan/schema';

export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

let nextId = 0;
/** A fresh message id: every message the tests send is new unless a test reuses one on purpose. */
export const id = (prefix = 'm'): string => `${prefix}-${++nextId}`;

/** The ops-log entries an event added, as `action: reason`. */
export interface Sent {
  commands: RolloutCommand[];
  lines: string[];
  entries: OpsLogEntry[];
}

/**
 * Applies `event` to `state` in place and returns its commands and the ops-log lines it added. With `values`, the
 * readings the step asks for at its instant are answered at once, as the interpreter would: each metric reads its
 * value (0 when not named) and each check passes — and what those answers lead to is included.
 */
export function send(plan: Plan, state: RolloutState, event: RolloutEvent, values?: Record<string, number | MetricReading>): Sent {
  const before = state.opsLog.length;
  const commands: RolloutCommand[] = [];
  const queue: RolloutEvent[] = [event];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const produced = apply(plan, state, next);
    commands.push(...produced);
    if (!values) continue;
    for (const c of produced) {
      if (c.type === 'observe') queue.push(readings(state.now, Object.fromEntries(c.metrics.map((m) => [m, values[m] ?? 0]))));
      if (c.type === 'run-check') queue.push({ type: 'check-result', at: state.now, check: c.check, ok: true });
    }
  }
  const entries = state.opsLog.slice(before);
  return { commands, entries, lines: entries.map((e) => `${e.action}: ${e.reason}`) };
}

/**
 * A rollout started at `at` whose providers answered (and whose first readings, `values`, came back): in its first
 * phase unless something holds it before.
 */
export function started(plan: Plan, at = 0, options: { initial?: Partial<RolloutState>; values?: Record<string, number | MetricReading> } = {}): RolloutState {
  const state = { ...initialState(at), ...options.initial };
  send(plan, state, { type: 'start', at }, options.values ?? {});
  send(plan, state, { type: 'providers-checked', at, offline: [] }, options.values ?? {});
  return state;
}

/** The `set-flags` commands among `commands`, as `flags → percent` (`off` when disabled); retries marked. */
export function flagWrites(commands: RolloutCommand[]): string[] {
  return commands.flatMap((c) => (c.type === 'set-flags' ? [`${c.flags.join(',')} → ${c.enabled ? `${c.percent}%` : 'off'}${c.retry ? ' (retry)' : ''}`] : []));
}

/** The commands of one type. */
export function commandsOf<T extends RolloutCommand['type']>(commands: RolloutCommand[], type: T): Array<Extract<RolloutCommand, { type: T }>> {
  return commands.filter((c): c is Extract<RolloutCommand, { type: T }> => c.type === type);
}

// Events; messages carry fresh ids.
export const tick = (at: number): RolloutEvent => ({ type: 'tick', at });
export const operator = (at: number, command: OperatorCommand, by: string, role?: string, reason?: string): MessageEvent => ({
  type: 'operator',
  at,
  id: id(command),
  command,
  by,
  ...(role ? { role } : {}),
  ...(reason ? { reason } : {}),
});
export const approve = (at: number, role: string, by: string, extra: { subject?: string; decision?: 'approve' | 'reject'; reason?: string; verified?: boolean } = {}): MessageEvent => ({
  type: 'approval',
  at,
  id: id('approval'),
  role,
  by,
  decision: extra.decision ?? 'approve',
  ...(extra.subject ? { subject: extra.subject } : {}),
  ...(extra.reason ? { reason: extra.reason } : {}),
  ...(extra.verified !== undefined ? { verified: extra.verified } : {}),
});
export const incident = (at: number, severity: string, title = 'something broke'): MessageEvent => ({ type: 'incident', at, id: id('incident'), severity, title });
export const report = (at: number, name: string, value: string | number | boolean): MessageEvent => ({ type: 'report-value', at, id: id('report'), name, value, by: 'ops@example.com' });
/** An observation of `values` (a number is an ok reading; a reading is passed as is). */
export const readings = (at: number, values: Record<string, number | MetricReading>): RolloutEvent => ({
  type: 'observation',
  at,
  metrics: Object.fromEntries(Object.entries(values).map(([m, v]) => [m, typeof v === 'number' ? { status: 'ok' as const, value: v } : v])),
});

/** What the world answers a rollout driven on a virtual clock. */
export interface World {
  /** The instant the rollout starts (epoch ms); 0 unless a test needs a real date. */
  start?: number;
  /** Stop this long after the start if the rollout has not settled. */
  horizon: number;
  /** A metric's reading at a time (a number is an ok reading); every metric reads 0 by default. */
  metric?(name: string, at: number): number | MetricReading;
  /** `{ ok: false }` refuses the flag write; undefined lets it through. */
  setFlags?(command: Extract<RolloutCommand, { type: 'set-flags' }>, at: number): { ok: false; detail: string } | undefined;
  /** A task's result; every task succeeds by default. */
  task?(task: string, scope: string, at: number): { ok: boolean; detail?: string };
  /** A check's result; every check passes by default. */
  check?(check: string, at: number): { ok: boolean; detail?: string };
  initial?: Partial<RolloutState>;
}

export interface Driven {
  state: RolloutState;
  /** Flag writes that went through, `at` from the start. */
  written: Array<{ at: number; flags: string[]; percent: number; enabled: boolean }>;
  /** Tasks run (not snapshots, notifications or manual tasks: those the machine does itself), `at` from the start. */
  tasks: Array<{ at: number; scope: string; task: string }>;
  /** Checks run, `at` from the start. */
  checks: Array<{ at: number; check: string }>;
  /** Notifications sent, `at` from the start. */
  notified: Array<{ at: number; event: string; channels: string[] }>;
  /** The wake-ups the rollout was woken at, `at` from the start. */
  ticks: number[];
  /** The ops log as `<offset> <action>: <reason>`, the offset from the start in minutes (`90s` → `1m30s`). */
  log: string[];
}

/** Runs `plan` through the real interpreter from `world.start` until it settles or the horizon. */
export async function drive(plan: Plan, world: World): Promise<Driven> {
  const start = world.start ?? 0;
  const state = { ...initialState(start), ...world.initial };
  const since = () => state.now - start;
  const out: Driven = { state, written: [], tasks: [], checks: [], notified: [], ticks: [], log: [] };
  const effects: Effects = {
    setFlags: async (c) => {
      const refused = world.setFlags?.(c, since());
      if (refused) return refused;
      out.written.push({ at: since(), flags: c.flags, percent: c.percent, enabled: c.enabled });
    },
    setConfig: async () => undefined,
    observe: async (c) => ({
      metrics: Object.fromEntries(
        c.metrics.map((m) => {
          const v = world.metric?.(m, since()) ?? 0;
          return [m, typeof v === 'number' ? { status: 'ok' as const, value: v } : v];
        }),
      ),
    }),
    checkProviders: async () => ({ offline: [] }),
    runTask: async (c) => {
      out.tasks.push({ at: since(), scope: c.scope, task: c.task });
      return world.task?.(c.task, c.scope, since()) ?? { ok: true };
    },
    runCheck: async (c) => {
      out.checks.push({ at: since(), check: c.check });
      return world.check?.(c.check, since()) ?? { ok: true };
    },
    notify: async (c) => void out.notified.push({ at: since(), event: c.event, channels: c.channels }),
  };
  const p = compiled(plan);
  await feed(p, state, { type: 'start', at: start }, effects);
  while (!isSettled(state) && state.wakeAt !== undefined && state.wakeAt <= start + world.horizon) {
    out.ticks.push(state.wakeAt - start);
    await feed(p, state, { type: 'tick', at: state.wakeAt }, effects);
  }
  out.log = state.opsLog.map((e) => `${offset(e.at - start)} ${e.action}: ${e.reason}`);
  return out;
}

/** 90s → "1m30s", 600s → "10m". */
export function offset(ms: number): string {
  const minutes = Math.floor(ms / MINUTE);
  const seconds = Math.round((ms % MINUTE) / SECOND);
  return `${minutes}m${seconds ? `${seconds}s` : ''}`;
}

/** The ops-log lines of `log` whose action is one of `actions`. */
export const only = (log: string[], ...actions: string[]): string[] => log.filter((l) => actions.some((a) => l.split(' ')[1] === `${a}:`));
