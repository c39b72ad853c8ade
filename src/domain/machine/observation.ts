/**
 * Observations and conditions: what each tick asks to observe, how a reading is folded into the tracks of the
 * conditions in force, and whether a condition is satisfied now.
 */
import { positionKey, readsMetrics, type KeyedCondition } from '../compiled-plan';
import { checkKey, evaluateCondition, type ConditionTiming, type EvalContext, type Verdict } from '../conditions';
import { newTrack, updateTrack } from '../sustain';
import type { UnmetCheck } from '../waits';
import type { MetricReading, RolloutEvent } from '../types';
import type { ConditionDef } from '../plan-schema';
import { type Run, currentPhase, describeKey, log } from './context';
import { retryFlagWrites } from './flag-writes';
import { verifyRollback } from './safety';
import { runDueTasks } from './tasks';
import { circuitBreaker, evaluateTriggers, inconclusiveLimits, sourceErrors } from './triggers';

/** Samples of an anomaly metric's history kept (trimmed in batches of a quarter of this). */
const MAX_HISTORY = 500;

/** Before the first phase: offline providers keep the rollout at 0% (checked again every interval) and are named. */
export function providersChecked(run: Run, offline: string[]): void {
  const { state } = run;
  const before = state.providersOffline;
  state.providersOffline = offline;
  if (state.phaseIndex >= 0) return;
  if (offline.length > 0 && before?.join('\n') !== offline.join('\n')) {
    log(run, 'wait', `not starting: ${offline.join('; ')} — checked again every ${run.plan.analysis.interval}; traffic stays at 0%`);
  } else if (offline.length === 0 && before?.length) {
    log(run, 'wait', `providers answer again (${before.length} were offline); the rollout may start`);
  }
}

/** A wake-up: retries failed writes, observes when an observation is due, runs due tasks. */
export function tick(run: Run): void {
  const { state } = run;
  retryFlagWrites(run);
  if (state.phaseIndex < 0 && state.providersOffline?.length !== 0) run.commands.push({ type: 'check-providers' });
  if (state.nextObservationAt !== undefined && state.now >= state.nextObservationAt) {
    const metrics = observedNow(run);
    if (metrics.length > 0 || run.compiled.flagReads.length > 0) emitObserve(run, metrics);
    else if (state.rulesV3 && checksInForceNow(run).length > 0) {
      // Nothing to read, but http or command checks in force: they are run (when due) on the same grid.
      runActiveChecks(run);
      state.nextObservationAt = state.now + run.compiled.intervalMs;
    } else state.nextObservationAt = undefined;
  }
  runDueTasks(run);
}

/** Asks for an observation of `metrics` (and the flags conditions read), on the analysis-interval grid. */
export function emitObserve(run: Run, metrics: string[]): void {
  const interval = run.compiled.intervalMs;
  // Stay on the grid the first observation set: a tick that arrives a little late does not shift the ones after it.
  const due = run.state.nextObservationAt;
  run.state.nextObservationAt = due !== undefined && run.state.now >= due && run.state.now - due < interval ? due + interval : run.state.now + interval;
  run.commands.push({ type: 'observe', metrics, flags: run.compiled.flagReads });
  runActiveChecks(run);
}

/**
 * HTTP and command conditions in the gates, entry checks and triggers in force are re-run once their last result
 * is older than five minutes (or the analysis interval, if longer): often enough to notice a change, rarely enough
 * that a smoke-test command is not run every 30 seconds.
 */
export function runActiveChecks(run: Run): void {
  const { compiled, state } = run;
  const keys = checksInForceNow(run);
  const phase = currentPhase(run);
  for (const key of keys) {
    const last = state.checkResults[key];
    if (last && state.now - last.at < compiled.checkRefreshMs) continue;
    run.commands.push({ type: 'run-check', check: key, scope: phase?.name ?? 'before-start' });
  }
}

/** Applies an observation: latest readings, history, baselines; folds it into every condition in force. */
export function observe(run: Run, event: Extract<RolloutEvent, { type: 'observation' }>): void {
  const { state } = run;
  const at = event.at;
  let errors = 0;
  const beforeRollout = state.phaseIndex < 0 || (currentPhase(run)?.percent ?? 0) === 0;
  const anomaly = run.compiled.anomalyMetrics;
  for (const metric in event.metrics) {
    const r = event.metrics[metric] as MetricReading;
    if (r.status === 'error') errors++;
    if (r.status !== 'ok' || !Number.isFinite(r.value)) continue;
    // Updated in place: this runs for every metric on every tick.
    const latest = state.latest[metric];
    if (latest) {
      latest.value = r.value;
      latest.at = at;
      latest.samples = r.samples;
    } else state.latest[metric] = { value: r.value, at, samples: r.samples };
    if (anomaly.has(metric)) {
      const h = (state.history[metric] ??= []);
      h.push([at, r.value]);
      // Trimmed in batches, not one sample per tick: anomaly conditions read only their lookback anyway.
      if (h.length > MAX_HISTORY + MAX_HISTORY / 4) h.splice(0, h.length - MAX_HISTORY);
    }
    if (r.value > 0) state.lastEventAt[metric] = at;
    if (beforeRollout) {
      const key = run.compiled.beforeRolloutKeys.get(metric) ?? `before-rollout:${metric}`;
      if (state.baselines[key] === undefined) state.baselines[key] = r.value;
    }
  }
  Object.assign(state.flagValues, event.flags ?? {});
  state.consecutiveSourceErrors = errors > 0 ? state.consecutiveSourceErrors + 1 : 0;

  // Fold this observation into every active metric condition.
  const ctx: EvalContext = { plan: run.plan, state, now: state.now, readings: event.metrics, phaseStart: state.phaseEnteredAt };
  for (const { key, when, polarity, timing } of activeMetricConditions(run)) {
    const track = (state.tracks[key] ??= newTrack());
    // A condition with an interval of its own is judged at that cadence, not at every observation.
    const every = state.trustV2 ? timing.everyMs : undefined;
    if (every !== undefined && track.lastEvaluatedAt !== undefined && at - track.lastEvaluatedAt < every) continue;
    const verdict = evaluateCondition(when, ctx, timing);
    updateTrack(track, timing, verdict.result, verdict.detail, at, polarity, { openWindowCounts: state.trustV2 });
  }
  if (errors > 0) sourceErrors(run, event);
  circuitBreaker(run, ctx);
  evaluateTriggers(run, event.metrics);
  inconclusiveLimits(run);
  if (state.status === 'rolling-back') verifyRollback(run);
}

/** A condition's verdict now, on `readings` if given. */
export function evaluate(run: Run, cond: ConditionDef, timing: ConditionTiming, readings?: Record<string, MetricReading>): Verdict {
  return evaluateCondition(cond, { plan: run.plan, state: run.state, now: run.state.now, readings, phaseStart: run.state.phaseEnteredAt }, timing);
}

/** Metric-reading conditions that are evaluated on each observation right now, with their track keys. */
export function activeMetricConditions(run: Run): KeyedCondition[] {
  const { state } = run;
  const active = state.rulesV3 ? run.compiled.active : run.compiled.activeBeforeChecks;
  return active.get(positionKey(state.phaseIndex, state.stage, state.status === 'rolling-back')) ?? [];
}

/** Satisfied now? Metric conditions use their track; others are evaluated on the spot. */
export function isSatisfied(run: Run, key: string, cond: ConditionDef, timing: ConditionTiming): { ok: boolean; detail: string } {
  if (readsMetrics(cond)) {
    const track = run.state.tracks[key];
    return { ok: track?.satisfied ?? false, detail: track?.detail ?? `${describeKey(key)}: not evaluated yet` };
  }
  const verdict = evaluate(run, cond, timing);
  return { ok: verdict.result === 'true', detail: verdict.detail };
}

/** The named checks that do not hold now, with why. */
export function unmetChecks(run: Run, names: string[]): UnmetCheck[] {
  const unmet: UnmetCheck[] = [];
  for (const name of names) {
    const c = run.compiled.checksByName.get(name);
    if (!c) continue;
    const h = isSatisfied(run, c.key, c.check.when, c.timing);
    if (!h.ok) unmet.push({ check: c.check.name, detail: h.detail });
  }
  return unmet;
}

/** The metrics an observation asks for where the rollout is. */
export function observedNow(run: Run): string[] {
  const { state } = run;
  const observed = state.rulesV3 ? run.compiled.observed : run.compiled.observedBeforeChecks;
  return observed.get(positionKey(state.phaseIndex, state.stage, state.status === 'rolling-back')) ?? [];
}

/** The keys of the http and command checks in force where the rollout is. */
export function checksInForceNow(run: Run): string[] {
  const { compiled, state } = run;
  return (state.rulesV3 ? compiled.checksInForceAt.get(positionKey(state.phaseIndex, state.stage, state.status === 'rolling-back')) : compiled.checksInForce.get(state.phaseIndex)) ?? [];
}

/** Runs the named http and command checks now (once: not again if this step already asked for one). */
export function runChecks(run: Run, names: string[]): void {
  for (const name of names) {
    const c = run.compiled.checksByName.get(name)?.check;
    if (c && (c.when.kind === 'http' || c.when.kind === 'command')) {
      const key = checkKey(c.when);
      if (run.state.rulesV3 && run.commands.some((command) => command.type === 'run-check' && command.check === key)) continue;
      run.commands.push({ type: 'run-check', check: key, scope: `check:${c.name}` });
    }
  }
}
