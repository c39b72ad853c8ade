/**
 * The rollout machine: every decision of a rollout, as a pure function `(plan, state, event) → (state, commands)`.
 * No I/O, no clock, no Temporal. The workflow, the simulator and the tests all drive this machine, with a plan
 * compiled once (src/plan/compile.ts).
 *
 * Lifecycle: preconditions and tokens → phases in order (enter: entry checks, approvals, budgets; stay: minimum
 * duration or end of day, gates, `until` checks, exit approvals, required tasks) → re-freeze → stabilization →
 * success criteria → completed. Triggers can hold, pause, revert a phase, roll back or kill at any time; operators
 * can pause, resume, promote, force-promote, abort, roll back or kill.
 *
 * One file per concern: messages.ts (who may send what), observation.ts (readings and conditions), triggers.ts,
 * progression.ts (phases), safety.ts (holds, rollback, kill), flag-writes.ts, after-full.ts, tasks.ts,
 * scheduling.ts; context.ts holds what they share.
 */
import type { CompiledPlan } from '../compiled-plan';
import type { MessageEvent, Millis, Refusal, RolloutCommand, RolloutEvent, RolloutResult, RolloutState } from '../types';
import { type Run, isFinished, log, logRefusal, newRun, notify, phaseName } from './context';
import { flagWriteFailed, flagWriteRetried, retryFlagWrites } from './flag-writes';
import { actorOf, approval, describeEvent, incident, operator, refusalOf, taskReportRefusal, taskResult } from './messages';
import { observe, providersChecked, tick } from './observation';
import { progress, start } from './progression';
import { finish, startRollback } from './safety';
import { schedule } from './scheduling';
import { evaluateEventTriggers } from './triggers';

export { isFinished, phaseName } from './context';
export { describeSubject, grantedOperatorRoles } from './messages';
export { straightToSafety } from './flag-writes';

/** Message ids remembered to drop duplicates (a signal redelivered, an update retried). */
const MAX_PROCESSED_IDS = 2_000;
/** Malformed messages logged one by one before only every this-many-th is (the rest are counted). */
const MALFORMED_LOGGED = 100;

/** A fresh state; the first event must be `start`. */
export function initialState(at: Millis): RolloutState {
  return {
    status: 'pending',
    startedAt: at,
    now: at,
    phaseIndex: -1,
    phaseEnteredAt: at,
    percent: 0,
    stage: 'ramp',
    waits: [],
    waitingFor: [],
    approvals: [],
    attestations: {},
    reported: {},
    tokensConsumed: {},
    incidents: [],
    alerts: {},
    spend: {},
    taskRuns: {},
    checkResults: {},
    tracks: {},
    latest: {},
    history: {},
    lastEventAt: {},
    baselines: {},
    flagValues: {},
    consecutiveSourceErrors: 0,
    compensations: [],
    notified: {},
    opsLog: [],
    processedIds: [],
    trustV2: true,
    rulesV3: true,
  };
}

/** Pure step: returns a new state and the commands to carry out. */
export function step(plan: CompiledPlan, state: RolloutState, event: RolloutEvent): { state: RolloutState; commands: RolloutCommand[] } {
  const next = structuredClone(state);
  const commands = apply(plan, next, event);
  return { state: next, commands };
}

/**
 * The same as {@link step}, updating `state` in place: the hot path of the workflow and the simulator, which own
 * their state. Deterministic for the same inputs.
 */
export function apply(plan: CompiledPlan, state: RolloutState, event: RolloutEvent): RolloutCommand[] {
  const commands = handle(newRun(plan, state), event);
  // A new write of a flag supersedes a failed earlier write of it that is waiting to be retried.
  if (state.pendingFlagWrites?.length) {
    const written = new Set(commands.flatMap((c) => (c.type === 'set-flags' && !c.retry ? c.flags : [])));
    if (written.size) state.pendingFlagWrites = state.pendingFlagWrites.filter((w) => !w.flags.some((f) => written.has(f)));
  }
  return commands;
}

/** Finished, and every flag write it made went through: nothing is left to do. */
export function isSettled(state: RolloutState): boolean {
  return isFinished(state) && !state.pendingFlagWrites?.length;
}

/**
 * Why `event` would be refused, or undefined if it is acceptable. Update validators call this to reject with a
 * reason before anything is written to history; signals that fail it are logged as refused.
 */
export function refusal(plan: CompiledPlan, state: RolloutState, event: MessageEvent): Refusal | undefined {
  return refusalOf(newRun(plan, state), event);
}

/**
 * Why an Update carrying `event` is rejected before anything is written, or undefined to accept it. The same as
 * {@link refusal}, except that a message whose only fault is its signature is accepted: the signature is verified
 * (or found missing) afterwards, and the machine then records the refusal in the ops log, so an unsigned or forged
 * CFO approval leaves a trace.
 */
export function updateRefusal(plan: CompiledPlan, state: RolloutState, event: MessageEvent): Refusal | undefined {
  const why = refusal(plan, state, event);
  if (why && (event.type === 'approval' || event.type === 'consume-token') && !refusal(plan, state, { ...event, verified: true })) return undefined;
  return why;
}

/** The result of a rollout: outcome, final traffic, every decision and the full ops log. */
export function resultOf(compiled: CompiledPlan, state: RolloutState): RolloutResult {
  const plan = compiled.source;
  return {
    // A rollout without an outcome yet is waiting on something (a hold, a pause, an approval, time): held.
    outcome: state.outcome ?? 'held',
    finalPercent: state.percent,
    phase: phaseName(plan, state.phaseIndex),
    // `time` beside `at`: the Temporal UI shows the result as JSON, where epoch milliseconds read as noise.
    decisions: state.opsLog.map(({ at, phase, action, reason, metrics, observedAt }) => ({
      at,
      time: new Date(at).toISOString(),
      phase,
      action,
      reason,
      ...(metrics ? { readings: metrics } : {}),
      ...(observedAt !== undefined ? { observedAt: new Date(observedAt).toISOString() } : {}),
    })),
    approvals: state.approvals,
    opsLog: state.opsLog,
    rollbackVerified: state.rollback?.verified,
    successCriteria: state.successCriteria,
  };
}


function handle(run: Run, event: RolloutEvent): RolloutCommand[] {
  const { state } = run;
  if ('id' in event) {
    // An incident's id names the incident: a later message about it (resolved, reopened) is an update, not a
    // duplicate; one that changes nothing is ignored where it is applied.
    const key = event.id;
    if (!(state.rulesV3 && event.type === 'incident')) {
      if (state.processedIds.includes(key)) return [];
      state.processedIds.push(key);
    }
    if (state.processedIds.length > MAX_PROCESSED_IDS) state.processedIds.splice(0, state.processedIds.length - MAX_PROCESSED_IDS);
  }
  state.now = Math.max(state.now, event.at);
  if ((event.type === 'observation' || event.type === 'check-result') && state.readingsPending) state.readingsPending = state.readingsPending - 1 || undefined;
  switch (event.type) {
    case 'message-refused': {
      // A flood of junk must not grow the ops log (and the state carried through continue-as-new) without bound:
      // the first 100 are logged one by one, then every 100th with the count.
      const count = (state.malformedMessages = (state.malformedMessages ?? 0) + 1);
      if (!state.trustV2 || count <= MALFORMED_LOGGED || count % MALFORMED_LOGGED === 0) {
        const counted = count > MALFORMED_LOGGED ? ` (${count} malformed messages so far; past ${MALFORMED_LOGGED}, every ${MALFORMED_LOGGED}th is logged)` : '';
        logRefusal(run, event.message, { code: 'malformed', message: `${event.reason}${counted}` });
      }
      return run.commands;
    }
    case 'notification-failed':
      log(run, 'notification-failed', `notification ${event.event} to channel ${event.channel} failed: ${event.detail}`);
      return run.commands;
    case 'cancel-requested':
      // Temporal cancels the workflow: the rollout stops the safe way (an abort: traffic straight off the canary,
      // configuration reverted), and the workflow completes once that is done. A rollout already rolling back or
      // finished is left to finish as it is.
      // Readings asked for before it will never come: their activities were cancelled with the workflow.
      state.readingsPending = undefined;
      if (!isFinished(state) && state.status !== 'rolling-back') {
        const reason = 'the workflow was cancelled in Temporal; a cancellation stops the rollout the safe way';
        // Before the first phase nothing was written: nothing to undo, no rollback tasks to run.
        if (state.phaseIndex < 0 && state.compensations.length === 0) {
          log(run, 'rollback', `ABORTED before the first phase: ${reason}; nothing was written`);
          finish(run, 'aborted', reason);
        } else startRollback(run, reason, 'aborted');
        schedule(run);
      }
      return run.commands;
    case 'flag-lock-refused':
      if (!isFinished(state)) {
        logRefusal(run, 'rollout', { code: 'flag-locked', message: `flag ${event.flag} is driven by rollout ${event.holder}; one rollout per flag — wait for it to finish or stop it first` });
        finish(run, 'aborted', `flag ${event.flag} is driven by rollout ${event.holder}`);
      }
      return run.commands;
  }
  if (isFinished(state)) {
    if ('id' in event) logRefusal(run, describeEvent(event), { code: 'finished', message: `the rollout already finished (${state.outcome})` }, actorOf(event));
    if (event.type === 'flag-write-failed') flagWriteFailed(run, event);
    if (event.type === 'flag-write-retried') flagWriteRetried(run, event);
    if (event.type === 'tick') retryFlagWrites(run);
    if (event.type === 'flag-write-failed' || event.type === 'flag-write-retried' || event.type === 'tick') schedule(run);
    return run.commands;
  }
  // A person's report of a task (it names who): for a manual task of this plan, by whom it is assigned to.
  if (state.rulesV3 && event.type === 'task-result' && event.by !== undefined) {
    const why = taskReportRefusal(run, event);
    if (why) {
      logRefusal(run, `result of task ${event.task} from ${event.by}`, why, event.by);
      return run.commands;
    }
  }
  if ('id' in event) {
    const why = refusalOf(run, event);
    if (why) {
      logRefusal(run, describeEvent(event), why, actorOf(event));
      return run.commands;
    }
  }

  switch (event.type) {
    case 'start':
      start(run);
      break;
    case 'tick':
      tick(run);
      break;
    case 'observation':
      observe(run, event);
      break;
    case 'approval':
      approval(run, event);
      break;
    case 'attestation':
      state.attestations[event.check] = { by: event.by, at: event.at };
      log(run, 'attest', `${event.check} attested by ${event.by}${event.note ? `: ${event.note}` : ''}`, event.by);
      break;
    case 'report-value':
      state.reported[event.name] = event.value;
      log(run, 'report', `${event.name} = ${String(event.value)} reported by ${event.by}`, event.by);
      break;
    case 'consume-token':
      state.tokensConsumed[event.token] = { by: event.by, at: event.at };
      log(run, 'consume-token', `token ${event.token} consumed by ${event.by} (${event.role}); its conditions all hold`, event.by);
      notify(run, 'token-consumed', `Token ${event.token} consumed by ${event.by}`);
      break;
    case 'incident':
      incident(run, event);
      break;
    case 'alert':
      if (event.status === 'firing') state.alerts[`${event.alert}|${event.id}`] = { labels: event.labels ?? {}, since: event.at };
      else for (const key of Object.keys(state.alerts)) if (key.startsWith(`${event.alert}|`)) delete state.alerts[key];
      log(run, 'incident', `alert ${event.alert} ${event.status}`);
      break;
    case 'spend':
      state.spend[event.budget] = event.total;
      break;
    case 'operator':
      operator(run, event);
      break;
    case 'task-result':
      taskResult(run, event);
      break;
    case 'check-result':
      state.checkResults[event.check] = { at: event.at, ok: event.ok, detail: event.detail };
      break;
    case 'flag-write-failed':
      flagWriteFailed(run, event);
      break;
    case 'flag-write-retried':
      flagWriteRetried(run, event);
      break;
    case 'providers-checked':
      providersChecked(run, event.offline);
      break;
  }

  if (event.type !== 'observation' && event.type !== 'tick') evaluateEventTriggers(run);
  // Decide on the newest readings: while readings asked for at this instant (an observation, check runs) are still
  // to come, moving forward waits for them; each comes back stamped with the same instant.
  const asked = () => run.commands.reduce((n, c) => (c.type === 'observe' || c.type === 'run-check' ? n + 1 : n), 0);
  if (!state.trustV2 || (state.readingsPending ?? 0) + asked() === 0) progress(run);
  schedule(run);
  if (state.trustV2) state.readingsPending = (state.readingsPending ?? 0) + asked() || undefined;
  return run.commands;
}
