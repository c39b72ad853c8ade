/**
 * Flag writes and compensation: failed writes retried until they go through, cohort flags, and undoing what
 * phases changed.
 */
import { formatDuration } from '../duration';
import { describeWrite } from '../waits';
import type { Compensation, RolloutEvent } from '../types';
import { type Run, currentPhase, isFinished, log, notify } from './context';

/** The pending write that `event` reports on: the same flags to the same state. */
function pendingWrite(run: Run, event: { flags: string[]; percent: number; enabled: boolean }) {
  return run.state.pendingFlagWrites?.find((w) => w.flags.join() === event.flags.join() && w.percent === event.percent && w.enabled === event.enabled);
}

/**
 * A flag write failed for good: it is retried on every tick until it goes through, and the rollout does not move
 * forward meanwhile. A failed write while rolling back or killing is the urgent case — traffic stays on the canary.
 */
export function flagWriteFailed(run: Run, event: Extract<RolloutEvent, { type: 'flag-write-failed' }>): void {
  const { state } = run;
  // A write that would put more traffic on the canary than the rollout now allows, failing after it moved toward
  // safety (a retry sent in the step that killed or rolled it back), is not retried: the safe state is what counts.
  const towardSafety = state.status === 'rolling-back' || (isFinished(state) && state.outcome !== 'completed');
  // Each flag against the level the rollout now means it to have: a cohort flag its cohort's, the target flags the
  // rollout's percent.
  const intended = Math.max(...event.flags.map((flag) => state.cohortFlags?.[flag] ?? state.percent));
  if (state.rulesV3 && event.enabled && event.percent > intended && towardSafety) {
    log(run, 'flag-write-failed', `flag write ${describeWrite(event)} failed after the rollout moved toward safety; not retried: ${event.detail}`);
    return;
  }
  const same = pendingWrite(run, event);
  if (same) {
    same.failures += 1;
    return;
  }
  (state.pendingFlagWrites ??= []).push({ flags: event.flags, percent: event.percent, enabled: event.enabled, reason: event.reason, since: event.at, failures: 1 });
  const target = describeWrite(event);
  const urgent = !event.enabled || state.status === 'rolling-back' || (isFinished(state) && state.outcome !== 'completed');
  const why = `flag write failed (${target}, for ${event.reason}): ${event.detail}; retried every ${run.plan.analysis.interval}${urgent ? ' — traffic may still reach the canary' : ', and the rollout does not advance until it succeeds'}`;
  log(run, 'flag-write-failed', why, undefined, true);
  notify(run, 'flag-write-failed', `${urgent ? 'URGENT: ' : ''}${why}`);
}

/** A failed write went through on retry; if it is the current phase's traffic, the phase counts from now. */
export function flagWriteRetried(run: Run, event: Extract<RolloutEvent, { type: 'flag-write-retried' }>): void {
  const { state } = run;
  const w = pendingWrite(run, event);
  if (!w) return;
  state.pendingFlagWrites = state.pendingFlagWrites?.filter((x) => x !== w);
  if (!state.pendingFlagWrites?.length) state.pendingFlagWrites = undefined;
  const failures = `${w.failures} failure${w.failures === 1 ? '' : 's'}`;
  const phase = currentPhase(run);
  // The phase's traffic goes live only now: its minimum duration and its gates count from here, not from the
  // decision to enter it, so a flag store that was down never shortens the time the canary really served.
  const live = state.trustV2 && phase !== undefined && !isFinished(state) && w.enabled && w.percent === state.percent && run.plan.target.flags.every((f) => w.flags.includes(f));
  if (live) {
    state.phaseEnteredAt = state.now;
    for (const { key } of phase.gates) delete state.tracks[key];
  }
  const restart = live ? `; ${phase.name} counts from now (its minimum duration and gates start again)` : '';
  log(run, 'flag-write-retried', `flag write ${describeWrite(w)} went through on retry after ${failures} (${formatDuration(state.now - w.since)})${restart}`, undefined, true);
}

/** Retries failed flag writes, oldest first; each comes back as a failure or a success event. */
export function retryFlagWrites(run: Run): void {
  for (const w of run.state.pendingFlagWrites ?? []) {
    run.commands.push({ type: 'set-flags', flags: w.flags, percent: w.percent, enabled: w.enabled, reason: `retry of ${w.reason}`, retry: true });
  }
}

/** The percent a cohort flag is at now: what the last phase that set it gave it, minus what was undone. */
export function cohortLevel(run: Run, flag: string): number {
  return run.state.cohortFlags?.[flag] ?? 0;
}

/** Sets cohort flags to their levels, one write per level, skipping those already there. */
export function setCohortFlags(run: Run, levels: Record<string, number>, reason: string): void {
  const { state } = run;
  // One command per level, in a stable order, so equal levels share a write.
  const byLevel = new Map<number, string[]>();
  for (const [flag, percent] of Object.entries(levels)) {
    if (cohortLevel(run, flag) === percent && state.cohortFlags?.[flag] !== undefined) continue;
    byLevel.set(percent, [...(byLevel.get(percent) ?? []), flag]);
    state.cohortFlags = { ...state.cohortFlags, [flag]: percent };
  }
  for (const [percent, flags] of byLevel) run.commands.push({ type: 'set-flags', flags, percent, enabled: percent > 0, reason });
}

/** Undoes recorded changes, in the order given: flags (with their cohorts) and configuration. */
export function compensate(run: Run, list: Compensation[], why: string): void {
  for (const c of list) {
    if (c.kind === 'config' && c.key !== undefined && c.value !== undefined) {
      run.commands.push({ type: 'set-config', key: c.key, value: c.value, provider: c.provider, reason: why });
    } else if (c.kind === 'flags') {
      const percent = c.percent ?? 0;
      run.commands.push({ type: 'set-flags', flags: run.plan.target.flags, percent, enabled: percent > 0, reason: why });
      if (c.cohorts) setCohortFlags(run, c.cohorts, why);
    }
  }
}

/**
 * The compensations of a rollback collapsed to their end state, so traffic goes straight to the safe level in one
 * write instead of stepping back phase by phase (30 → 10 → 0): the oldest flag compensation holds the level before
 * the rollout touched the flags, and each cohort flag and configuration key goes back to its oldest recorded value.
 * Flag writes come first: traffic leaves the canary before anything else is reverted.
 */
export function straightToSafety(undo: Compensation[]): Compensation[] {
  const flags = undo.filter((c) => c.kind === 'flags');
  const oldest = flags[flags.length - 1];
  const cohorts = Object.assign({}, ...flags.map((c) => c.cohorts ?? {})) as Record<string, number>;
  const configs = new Map<string, Compensation>();
  for (const c of undo) if (c.kind === 'config' && c.key !== undefined) configs.set(`${c.provider ?? ''}\u0000${c.key}`, c);
  return [
    ...(oldest ? [{ ...oldest, cohorts: Object.keys(cohorts).length > 0 ? cohorts : undefined }] : []),
    ...configs.values(),
  ];
}
