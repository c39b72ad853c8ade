/**
 * The context every machine function works on (the compiled plan, the state, the commands of this step) and the
 * bookkeeping they share: status, stage, waits, the ops log, notifications.
 */
import { describeWait, tokenHolds, type Wait } from '../waits';
import type { CompiledPhase, CompiledPlan } from '../compiled-plan';
import type { Plan } from '../plan-schema';
import type { ApprovalRequest, DecisionAction, NotificationEvent, OpsLogEntry, Refusal, RolloutCommand, RolloutState, RolloutStatus } from '../types';

/** One application of the machine to one event: the compiled plan, the state it changes, the commands it emits. */
export interface Run {
  readonly compiled: CompiledPlan;
  /** The plan as written (`compiled.source`). */
  readonly plan: Plan;
  readonly state: RolloutState;
  readonly commands: RolloutCommand[];
}

export function newRun(compiled: CompiledPlan, state: RolloutState): Run {
  return { compiled, plan: compiled.source, state, commands: [] };
}

const TERMINAL: RolloutStatus[] = ['completed', 'rolled_back', 'aborted', 'killed'];

/** True once the rollout reached an outcome. */
export function isFinished(state: RolloutState): boolean {
  return TERMINAL.includes(state.status);
}

/** The phase the rollout is in, compiled; undefined before the first. */
export function currentPhase(run: Run): CompiledPhase | undefined {
  return run.compiled.phases[run.state.phaseIndex];
}

export function phaseName(plan: Plan, index: number): string {
  return index < 0 ? 'before-start' : (plan.phases[index]?.name ?? 'unknown');
}

/** A track key in words: `gate:canary-10:errors` → "gate canary-10/errors". */
export function describeKey(key: string): string {
  const parts = key.split(':');
  return `${parts[0]} ${parts.slice(1).join('/')}`;
}

export function setStatus(run: Run, status: RolloutStatus): void {
  run.state.status = status;
}

/**
 * Records what the rollout waits for (and its words in `waitingFor`). A token that cannot be consumed is a HOLD
 * worth a line in the ops log whenever its reason changes.
 */
export function setWaiting(run: Run, waits: Wait[]): void {
  const { state } = run;
  const previous = state.waits;
  state.waits = waits;
  const reasons = waits.map(describeWait);
  if (reasons.length === state.waitingFor.length && reasons.every((r, i) => r === state.waitingFor[i])) return;
  const holds = tokenHolds(waits).map(describeWait);
  // A state from before waits were data has only the words: a HOLD whose sentence it already shows is not new.
  const before = previous ? tokenHolds(previous).map(describeWait) : holds.filter((h) => state.waitingFor.includes(h));
  state.waitingFor = reasons;
  const now = holds.join('; ');
  if (now && now !== before.join('; ')) log(run, 'hold', `HOLD before ${phaseName(run.plan, state.phaseIndex + 1)}: ${now}`);
}

/**
 * Whether the rollout waits for `phase`'s next change window. A state from before waits were data (no `waits`)
 * waited for it when its words were exactly that wait's, alone.
 */
export function waitsForWindow(run: Run, phase: string): boolean {
  const { state } = run;
  if (state.waits) return state.waits.some((w) => w.kind === 'window');
  return state.waitingFor.length === 1 && state.waitingFor[0] === describeWait({ kind: 'window', phase });
}

export function evidence(run: Run): string {
  return Object.entries(run.state.tracks)
    .filter(([key]) => key.startsWith(`gate:${currentPhase(run)?.name}:`))
    .map(([key, t]) => `${describeKey(key)} ${t.detail ?? ''}`)
    .join('; ');
}

/** Notifies the channels the plan routes `event` to (and `extraChannels`), with data for rich channels if any. */
export function notify(run: Run, event: NotificationEvent, message: string, extraChannels: string[] = [], approval?: ApprovalRequest): void {
  const channels = new Set(extraChannels);
  for (const n of run.plan.notifications) if (n.on.includes(event)) n.channels.forEach((c) => channels.add(c));
  if (channels.size > 0) run.commands.push({ type: 'notify', event, channels: [...channels].sort(), message, ...(approval ? { approval } : {}) });
}

/** Appends a line to the ops log (and emits it), with the metric values behind it when `withMetrics`. */
export function log(run: Run, action: DecisionAction, reason: string, actor?: string, withMetrics = false, metricNames?: string[], data?: Pick<OpsLogEntry, 'refusal' | 'approval'>): void {
  const { state } = run;
  const entry: OpsLogEntry = {
    at: state.now,
    phase: phaseName(run.plan, state.phaseIndex),
    percent: state.percent,
    action,
    reason,
    ...(actor ? { actor } : {}),
    ...(withMetrics ? readings(run, metricNames) : {}),
    ...data,
  };
  state.opsLog.push(entry);
  run.commands.push({ type: 'log', entry });
}

/** A refused message in the ops log: "<message> refused: <why>", with the refusal as data. */
export function logRefusal(run: Run, what: string, refusal: Refusal, actor?: string): void {
  log(run, 'refuse', `${what} refused: ${refusal.message}`, actor, false, undefined, { refusal });
}

/**
 * The readings behind a decision: the latest value of each metric (of `names`, or all), when the newest of them was
 * observed, and which were read before that (a metric whose source failed at the last observation keeps its older
 * value: the decision says so instead of passing it off as current).
 */
function readings(run: Run, names?: string[]): Pick<OpsLogEntry, 'metrics' | 'observedAt' | 'olderReadings'> {
  const metrics: Record<string, number> = {};
  let observedAt: number | undefined;
  for (const [name, v] of Object.entries(run.state.latest)) {
    if (names && !names.includes(name)) continue;
    metrics[name] = v.value;
    if (observedAt === undefined || v.at > observedAt) observedAt = v.at;
  }
  let olderReadings: Record<string, number> | undefined;
  for (const [name, v] of Object.entries(run.state.latest)) {
    if (name in metrics && observedAt !== undefined && v.at < observedAt) (olderReadings ??= {})[name] = v.at;
  }
  return { metrics, ...(observedAt !== undefined ? { observedAt } : {}), ...(olderReadings ? { olderReadings } : {}) };
}

export function setStage(run: Run, stage: RolloutState['stage']): void {
  run.state.stage = stage;
  run.state.stageStartedAt = run.state.now;
}
