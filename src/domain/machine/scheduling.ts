/**
 * Scheduling: the earliest moment something could change, so the rollout is woken then and not before.
 */
import { nextDailyAt, nextLocalTime, nextWindowOpening } from '../calendar';
import { type Run, currentPhase, isFinished, waitsForWindow } from './context';
import { activeMetricConditions, checksInForceNow, observedNow } from './observation';
import { approvalKey } from './progression';

/** Asks to be woken at the earliest moment something could change. */
export function schedule(run: Run): void {
  const { state } = run;
  const daily = (at: number, hhmm: string, timezone: string) => (state.rulesV3 ? nextLocalTime(at, hhmm, timezone) : nextDailyAt(at, hhmm, timezone));
  if (isFinished(state)) {
    // A finished rollout with a flag write still failing keeps retrying it: traffic must end where the outcome says.
    const retryAt = state.pendingFlagWrites?.length ? state.now + run.compiled.intervalMs : undefined;
    if (retryAt !== state.wakeAt) {
      state.wakeAt = retryAt;
      if (retryAt !== undefined) run.commands.push({ type: 'wake', at: retryAt });
    }
    return;
  }
  const candidates: number[] = [];
  const add = (t: number | undefined) => {
    if (t !== undefined && Number.isFinite(t) && t > state.now) candidates.push(t);
  };
  // Rules v3: also observe for checks in force and for metrics a snapshot task names, though no condition reads them.
  const alsoObserve = () => state.rulesV3 === true && (checksInForceNow(run).length > 0 || observedNow(run).length > 0);
  if (state.nextObservationAt === undefined && (activeMetricConditions(run).length > 0 || alsoObserve())) state.nextObservationAt = state.now;
  if (state.nextObservationAt !== undefined) candidates.push(Math.max(state.nextObservationAt, state.now + 1));
  const phase = currentPhase(run);
  if (phase && (state.stage === 'ramp' || state.stage === 'final')) {
    const { calendar } = phase.def;
    add(state.phaseEnteredAt + (phase.minMs ?? 0));
    add(state.phaseEnteredAt + (phase.maxMs ?? Infinity));
    if (calendar?.endOfDay) add(nextDailyAt(state.phaseEnteredAt, calendar.endOfDay, calendar.timezone));
    for (const t of phase.tasks) {
      if (t.def.on === 'every') add((state.taskRuns[t.key]?.at ?? state.phaseEnteredAt) + (t.everyMs ?? Infinity));
      if (t.def.on === 'daily' && t.def.at) add(daily(state.now, t.def.at, calendar?.timezone ?? 'UTC'));
    }
  }
  const next = run.compiled.phases[state.phaseIndex + 1];
  const windows = next?.def.calendar?.allowedWindows;
  if (next && windows && waitsForWindow(run, next.name)) add(nextWindowOpening(state.now, windows, next.timezone));
  for (const a of next?.approvals ?? []) {
    const asked = state.notified[`approval:${next?.name}:${a.role}`];
    if (asked !== undefined && a.def.escalate) add(asked + (a.escalateMs ?? Infinity));
  }
  if (state.rulesV3 && phase) {
    for (const a of phase.approvals) {
      const asked = a.at === 'exit' ? state.notified[approvalKey(phase.name, a)] : undefined;
      if (asked !== undefined && a.def.escalate && state.notified[`escalated:${approvalKey(phase.name, a)}`] === undefined) add(asked + (a.escalateMs ?? Infinity));
    }
  }
  add(state.hold?.deadline);
  add(state.rollback?.verifyUntil);
  // Offline providers are asked again every interval until they answer.
  if (state.phaseIndex < 0 && state.providersOffline?.length) add(state.now + run.compiled.intervalMs);
  if (state.stage === 'stabilization') {
    add((state.stageStartedAt ?? state.now) + (run.compiled.stabilization?.durationMs ?? 0));
    if (state.rulesV3) {
      // Stabilization tasks run in the last phase's time zone (as tasks.ts judges them), every task on its period.
      const timezone = phase?.def.calendar?.timezone ?? 'UTC';
      for (const t of run.compiled.stabilization?.tasks ?? []) {
        if (t.def.on === 'daily' && t.def.at) add(daily(state.now, t.def.at, timezone));
        if (t.def.on === 'every') add((state.taskRuns[t.key]?.at ?? state.stageStartedAt ?? state.now) + (t.everyMs ?? Infinity));
      }
    } else for (const t of run.compiled.stabilization?.tasks ?? []) if (t.def.on === 'daily' && t.def.at) add(nextDailyAt(state.now, t.def.at, 'UTC'));
  }
  if (state.stage === 'success-criteria') add((state.stageStartedAt ?? state.now) + (run.compiled.successCriteria?.overMs ?? 0));
  const wake = candidates.length ? Math.min(...candidates) : undefined;
  if (wake !== state.wakeAt) {
    state.wakeAt = wake;
    if (wake !== undefined) run.commands.push({ type: 'wake', at: wake });
  }
}
