/**
 * Triggers and the rules that act like them: metric and event triggers, metric-source errors, the circuit breaker,
 * and data missing for too long. Each fires once per excursion, the most severe first.
 */
import { triggersAt, type HoldPolicy, type KeyedTrigger } from '../compiled-plan';
import { evaluateCondition, type EvalContext } from '../conditions';
import { formatDuration } from '../duration';
import { newTrack, updateTrack } from '../sustain';
import type { MetricReading, RolloutEvent, RolloutStatus } from '../types';
import type { TriggerDef } from '../plan-schema';
import { type Run, isFinished, describeKey, log, notify, setStatus } from './context';
import { activeMetricConditions, evaluate } from './observation';
import { hold, kill, revertPhase, startRollback } from './safety';
import { runTask } from './tasks';

/** Which action wins when several triggers fire at one instant. */
const SEVERITY: Record<TriggerDef['action'], number> = { kill: 7, rollback: 6, abort: 5, 'revert-phase': 4, hold: 3, pause: 2, alert: 1 };
/** A hold with nobody named to decide it and no timeout: it stays until an operator resumes or rolls back. */
const NO_DECIDER: HoldPolicy = { default: 'stay' };

/** Non-metric triggers (incidents, alerts, values) are evaluated on every event. */
export function evaluateEventTriggers(run: Run): void {
  fireTriggers(run, triggersAt(run.compiled, run.state.phaseIndex).filter((t) => !t.metricDriven), undefined);
}

/** Every trigger in force, on an observation (metric triggers' tracks were updated by it). */
export function evaluateTriggers(run: Run, readings: Record<string, MetricReading>): void {
  fireTriggers(run, triggersAt(run.compiled, run.state.phaseIndex), readings);
}

/** Fires each trigger whose condition now holds and has not fired in this excursion, the most severe first. */
function fireTriggers(run: Run, list: KeyedTrigger[], readings: Record<string, MetricReading> | undefined): void {
  const { state } = run;
  // Before the first phase, a rollout-wide trigger on an event (an alert, an incident) acts too: traffic must not
  // reach the canary while it holds. (Metric triggers judge canary traffic: none flows before the first phase.)
  const beforeStart = state.phaseIndex < 0 && !(state.rulesV3 && readings === undefined);
  if (state.status === 'rolling-back' || beforeStart) return;
  const fired: Array<{ keyed: KeyedTrigger; detail: string }> = [];
  for (const keyed of list) {
    const { key, trigger, timing } = keyed;
    const track = (state.tracks[key] ??= newTrack());
    if (!keyed.metricDriven) {
      const v = evaluate(run, trigger.when, timing, readings);
      updateTrack(track, timing, v.result, v.detail, state.now, 'trigger', { openWindowCounts: state.trustV2 });
    }
    if (track.satisfied && !track.latched) {
      track.latched = true;
      fired.push({ keyed, detail: track.detail ?? '' });
    } else if (!track.satisfied && track.latched && track.trueSince === undefined) {
      track.latched = false;
    }
  }
  fired.sort((a, b) => SEVERITY[b.keyed.trigger.action] - SEVERITY[a.keyed.trigger.action]);
  for (const f of fired) {
    if (isFinished(state) || (state.status as RolloutStatus) === 'rolling-back') break;
    triggerAction(run, f.keyed.trigger, f.detail, f.keyed.hold);
  }
}

/** What a fired trigger does: its runbook tasks start, then its action. */
function triggerAction(run: Run, trigger: TriggerDef, detail: string, policy: HoldPolicy): void {
  const reason = `trigger ${trigger.name} fired: ${detail}${trigger.source ? ` [${trigger.source}]` : ''}`;
  notify(run, 'trigger-fired', reason, trigger.notify);
  // The trigger's runbook starts with it (manual steps are assigned, commands run, messages sent).
  for (const t of trigger.tasks ?? []) runTask(run, t, `trigger:${trigger.name}`);
  switch (trigger.action) {
    case 'alert':
      log(run, 'alert', reason);
      break;
    case 'pause':
      run.state.pause = { by: 'system', reason, since: run.state.now };
      // A hold that fired with it stays what the rollout shows: its decider, deadline and default are the way out.
      if (!(run.state.rulesV3 && run.state.status === 'holding')) setStatus(run, 'paused');
      log(run, 'pause', reason);
      notify(run, 'paused', reason);
      break;
    case 'hold':
      hold(run, reason, trigger.name, policy);
      break;
    case 'revert-phase':
      revertPhase(run, reason);
      break;
    case 'rollback':
      startRollback(run, reason, 'rolled_back');
      break;
    case 'abort':
      startRollback(run, reason, 'aborted');
      break;
    case 'kill':
      kill(run, reason);
      break;
  }
}

/** Metric-source errors in a row: the breaker's source count, or `analysis.onError` at its limit. */
export function sourceErrors(run: Run, event: Extract<RolloutEvent, { type: 'observation' }>): void {
  const { plan, state } = run;
  const failing = Object.entries(event.metrics).filter(([, r]) => r.status === 'error').map(([m, r]) => `${m} (${r.status === 'error' ? r.detail : ''})`);
  const breaker = plan.controls.circuitBreaker;
  if (breaker && state.consecutiveSourceErrors === breaker.consecutiveErrors) {
    actionFromRule(run, breaker.action, `circuit breaker: ${state.consecutiveSourceErrors} consecutive metric source errors: ${failing.join(', ')}`, 'circuit-breaker');
  } else if (state.consecutiveSourceErrors === plan.analysis.consecutiveErrorLimit) {
    actionFromRule(run, plan.analysis.onError, `${state.consecutiveSourceErrors} consecutive metric source errors: ${failing.join(', ')}; a source failure never counts as a pass`, 'source-errors');
  }
}

/**
 * The circuit breaker on the canary's own errors (seed 001: "auto-disable on 3 consecutive errors"): each evaluation
 * where `controls.circuitBreaker.when` holds counts, one where it does not resets the count, one without data
 * neither; at `consecutiveErrors` the breaker's action is taken. Metric-source errors count separately.
 */
export function circuitBreaker(run: Run, ctx: EvalContext): void {
  const { plan, state } = run;
  const breaker = plan.controls.circuitBreaker;
  const condition = run.compiled.circuitBreaker;
  if (!breaker || !condition || state.phaseIndex < 0 || isFinished(state) || state.status === 'rolling-back') return;
  const verdict = evaluateCondition(condition.when, ctx, condition.timing);
  if (verdict.result === 'true') state.breakerErrors = (state.breakerErrors ?? 0) + 1;
  else if (verdict.result === 'false') state.breakerErrors = undefined;
  if (state.breakerErrors === breaker.consecutiveErrors) {
    actionFromRule(run, breaker.action, `circuit breaker: ${state.breakerErrors} consecutive evaluations in error: ${verdict.detail}`, 'circuit-breaker');
  }
}

/** A condition in force without usable data for longer than `analysis.inconclusiveLimit`: `onInconclusive`. */
export function inconclusiveLimits(run: Run): void {
  const { plan, state } = run;
  const limit = run.compiled.inconclusiveLimitMs;
  // With no canary traffic, canary metrics have no data by design: that is not a reason to hold.
  if (state.percent === 0) return;
  for (const { key, onDemand } of activeMetricConditions(run)) {
    if (onDemand) continue;
    const track = state.tracks[key];
    if (!track?.inconclusiveSince || track.inconclusiveReported || state.now - track.inconclusiveSince <= limit) continue;
    track.inconclusiveReported = true;
    if (isFinished(state) || state.status === 'rolling-back') return;
    actionFromRule(run, plan.analysis.onInconclusive, `${describeKey(key)} has had no usable data for ${formatDuration(state.now - track.inconclusiveSince)} (limit ${plan.analysis.inconclusiveLimit}): ${track.detail}`, 'inconclusive');
  }
}

/** A rule's action (source errors, breaker, inconclusive data) taken as a trigger named after the rule would. */
function actionFromRule(run: Run, action: TriggerDef['action'], reason: string, cause: string): void {
  if (action === 'hold') hold(run, reason, cause, NO_DECIDER);
  else triggerAction(run, { name: cause, when: { kind: 'alert', alert: cause }, action }, reason, NO_DECIDER);
}
