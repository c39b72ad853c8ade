/**
 * Holds, pauses, reverts, rollback and kill: every way toward safety, and finishing the rollout.
 */
import { formatDuration } from '../duration';
import type { Outcome } from '../types';
import { observedMetrics, type HoldPolicy } from '../compiled-plan';
import { type Run, currentPhase, log, notify, setStatus } from './context';
import { compensate, straightToSafety } from './flag-writes';
import { emitObserve, isSatisfied } from './observation';
import { continueRefreeze } from './after-full';
import { runTask } from './tasks';

/** A soft stop: traffic stays where it is until whoever decides resumes or rolls back (or the timeout's default). */
export function hold(run: Run, reason: string, cause: string, policy: HoldPolicy): void {
  const { state } = run;
  if (state.hold) return;
  const { timeoutMs } = policy;
  state.hold = {
    reason,
    cause,
    since: state.now,
    decidedBy: policy.decidedBy,
    deadline: timeoutMs === undefined ? undefined : state.now + timeoutMs,
    default: policy.default,
  };
  setStatus(run, 'holding');
  const decision = policy.decidedBy ? `; ${policy.decidedBy.join(' or ')} decides (canary resume / canary rollback)` : '';
  const timeout = timeoutMs !== undefined ? `; if unresolved within ${policy.timeout}: ${policy.default}` : '';
  log(run, 'hold', `HOLD: ${reason}${decision}${timeout}`, undefined, true);
  notify(run, 'hold', `Rollout held: ${reason}${decision}${timeout}`);
}

/** A hold nobody decided within its timeout: its default applies. */
export function holdTimeout(run: Run): void {
  const { state } = run;
  const hold = state.hold;
  if (!hold) return;
  const reason = `hold on ${hold.cause} unresolved for ${formatDuration(state.now - hold.since)}: ${hold.default}`;
  state.hold = undefined;
  switch (hold.default) {
    case 'rollback':
      startRollback(run, reason, 'rolled_back');
      break;
    case 'revert-phase':
      revertPhase(run, reason);
      break;
    case 'kill':
      kill(run, reason);
      break;
    case 'resume':
      liftHold(run, reason, 'system');
      break;
    case 'stay':
      state.hold = { ...hold, deadline: undefined };
      break;
  }
}

/**
 * Lifts a hold (its decider's resume, its timeout's default). A pause given meanwhile — by an operator, a trigger or
 * a reverted phase — stays: it is lifted by `canary resume` (rules v3; before, the hold's end lifted it too).
 */
export function liftHold(run: Run, reason: string, by: string): void {
  const { state } = run;
  if (!(state.rulesV3 && state.pause)) {
    resume(run, reason, by);
    return;
  }
  state.hold = undefined;
  setStatus(run, 'paused');
  log(run, 'resume', `${reason}; still paused by ${state.pause.by} (${state.pause.reason})`, by);
  notify(run, 'resumed', `${reason}; still paused`);
}

/** Lifts a hold or a pause: the rollout moves on from where it is. */
export function resume(run: Run, reason: string, by: string): void {
  const { state } = run;
  state.hold = undefined;
  state.pause = undefined;
  setStatus(run, state.stage === 'ramp' || state.stage === 'final' ? 'running' : 'stabilizing');
  log(run, 'resume', reason, by);
  notify(run, 'resumed', reason);
  // Resuming a hold on a failed re-freeze step runs that step again (and the re-freeze goes on from there).
  if (state.rulesV3 && state.stage === 'refreeze') {
    for (const step of run.compiled.refreeze) if (state.taskRuns[step.key]?.ok === false) delete state.taskRuns[step.key];
    continueRefreeze(run);
  }
}

/** Back to the previous phase (its changes undone), paused there until someone resumes. */
export function revertPhase(run: Run, reason: string): void {
  const { plan, state } = run;
  if (state.phaseIndex <= 0) {
    startRollback(run, `${reason} (no previous phase to revert to)`, 'rolled_back');
    return;
  }
  const current = currentPhase(run);
  const undo = state.compensations.filter((c) => c.phase === current?.name).reverse();
  state.compensations = state.compensations.filter((c) => c.phase !== current?.name);
  compensate(run, undo, `revert ${current?.name}`);
  state.phaseIndex -= 1;
  state.phaseEnteredAt = state.now;
  state.stage = 'ramp';
  state.percent = plan.phases[state.phaseIndex]?.percent ?? 0;
  state.hold = undefined;
  // Stay at the previous phase until someone resumes: re-advancing by itself would walk back into the problem.
  state.pause = { by: 'system', reason: `reverted from ${current?.name}: ${reason}`, since: state.now };
  setStatus(run, 'paused');
  log(run, 'revert-phase', `reverted from ${current?.name} to ${plan.phases[state.phaseIndex]?.name} at ${state.percent}% and paused until resumed: ${reason}`, undefined, true);
  notify(run, 'rollback', `Reverted to ${plan.phases[state.phaseIndex]?.name} (${state.percent}%): ${reason}`);
}

/** A hard stop: compensations undone (straight to the safe level), then verified if the plan says how. */
export function startRollback(run: Run, reason: string, outcome: Outcome, by?: string): void {
  const { plan, state } = run;
  // target previous-percent: only the current phase's changes are undone; the rollout ends at the phase before it.
  const current = currentPhase(run)?.name;
  const partial = plan.rollback.target === 'previous-percent' && state.phaseIndex > 0;
  const undo = [...state.compensations].filter((c) => !partial || c.phase === current).reverse();
  state.compensations = partial ? state.compensations.filter((c) => c.phase !== current) : [];
  compensate(run, state.trustV2 ? straightToSafety(undo) : undo, 'rollback');
  state.percent = partial ? (plan.phases[state.phaseIndex - 1]?.percent ?? 0) : 0;
  state.hold = undefined;
  state.pause = undefined;
  setStatus(run, 'rolling-back');
  const { withinMs } = run.compiled.rollback;
  state.rollback = { reason, startedAt: state.now, verifyUntil: withinMs === undefined ? undefined : state.now + withinMs, outcome };
  log(run, 'rollback', `ROLLBACK: ${reason}; flags to ${state.percent}%${undo.some((c) => c.kind === 'config') ? ', configuration reverted' : ''}`, by, true);
  notify(run, 'rollback', `Rollout rolled back: ${reason}`);
  for (const t of plan.rollback.tasks ?? []) runTask(run, t, 'rollback');
  if (withinMs === undefined) finish(run, outcome, reason);
  else {
    const metrics = observedMetrics(run.compiled, run.compiled.rollback.verify.map((v) => v.check.when), state.phaseIndex);
    if (metrics.length > 0) emitObserve(run, metrics);
  }
}

/** Finishes a rollback once every verification check holds. */
export function verifyRollback(run: Run): void {
  const { plan, state } = run;
  const failing = run.compiled.rollback.verify.filter(({ key, check, timing }) => !isSatisfied(run, key, check.when, timing).ok);
  if (failing.length === 0 && state.rollback) {
    state.rollback.verified = true;
    log(run, 'rollback-verified', `metrics back to baseline ${formatDuration(state.now - state.rollback.startedAt)} after rollback (bound ${plan.rollback.verify?.within})`, undefined, true);
    notify(run, 'rollback-verified', 'Rollback verified: metrics back to baseline');
    finish(run, state.rollback.outcome, state.rollback.reason);
  }
}

/** Finishes a rollback unverified when its verification window ends. */
export function checkRollbackDeadline(run: Run): void {
  const { plan, state } = run;
  if (!state.rollback?.verifyUntil || state.now < state.rollback.verifyUntil) return;
  const failing = run.compiled.rollback.verify.map(({ key, check, timing }) => `${check.name}: ${isSatisfied(run, key, check.when, timing).detail}`);
  state.rollback.verified = false;
  log(run, 'rollback-unverified', `metrics did NOT return to baseline within ${plan.rollback.verify?.within} of rollback: ${failing.join('; ')}`, undefined, true);
  notify(run, 'rollback-verified', `Rollback NOT verified within ${plan.rollback.verify?.within}`);
  finish(run, state.rollback.outcome, state.rollback.reason);
}

/** All flags off at once (and the kill switch), configuration reverted: the fastest way to safety. */
export function kill(run: Run, reason: string, by?: string): void {
  const { plan, state } = run;
  const configs = [...state.compensations].reverse().filter((c) => c.kind === 'config');
  run.commands.push({ type: 'set-flags', flags: run.compiled.killFlags, percent: 0, enabled: false, reason: `kill: ${reason}` });
  if (plan.controls.killSwitch) run.commands.push({ type: 'set-flags', flags: [plan.controls.killSwitch.flag], percent: 0, enabled: false, reason: `kill switch: ${reason}` });
  compensate(run, configs, 'kill');
  state.compensations = [];
  if (state.cohortFlags) state.cohortFlags = Object.fromEntries(Object.keys(state.cohortFlags).map((flag) => [flag, 0]));
  state.percent = 0;
  log(run, 'kill', `KILL: ${reason}; all flags off`, by, true);
  notify(run, 'killed', `Rollout killed: ${reason}`);
  finish(run, 'killed', reason);
}

/** The rollout reached its outcome. */
export function finish(run: Run, outcome: Outcome, reason: string): void {
  const { state } = run;
  state.outcome = outcome;
  state.hold = undefined;
  state.waits = [];
  state.waitingFor = [];
  state.stage = 'done';
  state.nextObservationAt = undefined;
  setStatus(run, outcome === 'completed' ? 'completed' : outcome === 'killed' ? 'killed' : outcome === 'aborted' ? 'aborted' : 'rolled_back');
  if (outcome === 'completed') {
    log(run, 'complete', reason, undefined, true);
    notify(run, 'completed', `Rollout ${run.plan.name} completed at ${state.percent}%`);
  }
}
