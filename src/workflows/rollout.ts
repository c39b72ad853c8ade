/**
 * The rollout workflow: a thin interpreter of the rollout machine. It feeds events in (messages, timer ticks,
 * activity results), carries out the machine's commands with activities and one durable timer, answers queries from
 * the machine's state, and continues as new when history grows. Every decision is the machine's.
 */
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  log,
  currentUpdateInfo,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { ActivityFailure, type ActivityOptions, ApplicationFailure, CancelledFailure, type LocalActivityOptions, type SignalDefinition, type UpdateDefinition } from '@temporalio/common';
import type { z } from 'zod';
import type { ObserveInput, RolloutActivities } from '../activities/rollout-activities';
import { feed, timerEventTime, type Effects } from '../domain/driver';
import { initialState, isSettled, resultOf, updateRefusal } from '../domain/machine';
import { statusOf } from '../domain/status';
import { describeWait } from '../domain/waits';
import type { MessageEvent, OpsLogEntry, Refusal, RolloutEvent, RolloutResult, RolloutState } from '../domain/types';
import { compilePlan } from '../plan/compile';
import type { Plan } from '../plan/schema';
import { findPlanTask } from '../plan/tasks';
import * as m from './messages';
import { isUndecodable, UNDECODABLE } from './payload-converter';
import { canaryPhaseKey, canaryPlanIdKey, canaryStatusKey, canaryTrafficPercentKey } from './search-attributes';

export interface RolloutWorkflowInput {
  plan: Plan;
  /** Carried across continue-as-new. */
  state?: RolloutState;
  /** Continue as new once a run's history reaches this many events (also when the server suggests it). */
  maxHistoryEvents?: number;
  /**
   * Metric reads and signature checks run as local activities (default: one marker event per tick). False makes them
   * regular activities, three events more per tick — for the time-skipping test server, which does not know about
   * local activities and may skip time while one runs.
   */
  localActivities?: boolean;
  /** This rollout holds the locks on its flags (taken before its first write, released when it settles). */
  flagLocked?: boolean;
}

const { setConfig, runTask, runCheck, notify } = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumInterval: '1m', maximumAttempts: 10 },
});
// Flag writes sit between a breach and traffic leaving the canary: a lost worker costs 10 s, not minutes, and a store
// that fails is given up on within seconds — the machine then retries the write every analysis interval (and a later
// write of the flag supersedes it), so neither a backoff nor a dead store blocks the next decision.
const SET_FLAGS: ActivityOptions = {
  startToCloseTimeout: '10s',
  // The activity heartbeats every second: a worker that died mid-write is noticed in 3 s.
  heartbeatTimeout: '3s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 3 },
};
const { setFlags } = proxyActivities<RolloutActivities>(SET_FLAGS);
// One activity per notification channel, never awaited on the decision path; at least once, with an idempotency key;
// a channel that still fails after its retries is reported in the ops log, not retried forever.
const NOTIFY_CHANNEL: ActivityOptions = {
  startToCloseTimeout: '10s',
  heartbeatTimeout: '3s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 4 },
};
const { notifyChannel } = proxyActivities<RolloutActivities>(NOTIFY_CHANNEL);
// Taking the flag locks never gives up: a rollout that cannot tell whether it may write its flags writes nothing.
const { acquireFlagLocks, releaseFlagLocks } = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', maximumInterval: '10s' },
});
// Giving back locks a cancelled taking may have left: a few tries, then they are left to be taken over (their holder
// has ended), so a store that cannot be reached never keeps a cancelled rollout open.
const { releaseFlagLocks: releaseLeftLocks } = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', maximumInterval: '5s', maximumAttempts: 3 },
});
// Metric reads are frequent and cheap to repeat: a local activity costs one history event instead of three.
const LOCAL: LocalActivityOptions = { startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } };
const REMOTE: ActivityOptions = { startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } };
const local = proxyLocalActivities<RolloutActivities>(LOCAL);
const remote = proxyActivities<RolloutActivities>(REMOTE);

/** One queued message or event, with the signature that came with it (checked before the event has any effect). */
interface Inbound {
  event: RolloutEvent;
  signature?: string;
}

export async function rolloutWorkflow(input: RolloutWorkflowInput): Promise<RolloutResult> {
  const { plan } = input;
  // Compiled on every run and on replay: pure, so the same plan gives the same decisions.
  const compiled = compilePlan(plan);
  const info = workflowInfo();
  const state = input.state ?? initialState(Date.now());
  // Rollouts started before these rules replay without them: notifications awaited in line, rollbacks phase by phase,
  // no flag lock. Every run started by this code takes the new path (trust-v2).
  // (trust-v2 is asked for on every run, as the histories in the field recorded it: a rollout started before it took
  // these rules at its next continue-as-new.)
  const trustV2 = patched('trust-v2');
  state.trustV2 = trustV2;
  // Named checks observed where the rollout waits for them (until, tokens ahead). Decided when the rollout starts and
  // carried through continue-as-new: a rollout keeps the rule it started with.
  state.rulesV3 = (input.state ? input.state.rulesV3 === true : patched('rules-v3')) || undefined;
  const inbox: Inbound[] = [];
  /** Notifications on their way, not awaited by decisions; a run ends (or continues as new) after they settle. */
  const inFlight = new Set<Promise<void>>();
  let notificationSeq = 0;
  let messageSeq = 0;
  // Well under the server's 4,096-event suggestion: a loop step (a batch of checks) may add a few dozen after the check.
  const maxEvents = input.maxHistoryEvents ?? 3_800;
  const { verifySignature, checkProviders, readFlags } = input.localActivities === false ? remote : local;
  /** Reads metrics with a summary for the Temporal UI ("observe error_rate, p95_latency_ms"). */
  const observe = (summary: string, args: ObserveInput) =>
    input.localActivities === false
      ? remote.observeMetrics.executeWithOptions({ ...REMOTE, summary }, [args])
      : local.observeMetrics.executeWithOptions({ ...LOCAL, summary }, [args]);

  // The plan was validated before it started: its target names a flag provider it declares.
  const flagProvider = plan.providers.flags[plan.target.provider] as Plan['providers']['flags'][string];
  const effects: Effects = {
    setFlags: async (c) => {
      try {
        // The summary names the write in the Temporal UI's timeline ("checkout-v2 → 10% (entering canary-10)").
        const summary = `${c.flags.join(', ')} → ${c.enabled ? `${c.percent}%` : 'off'} (${c.reason})`.slice(0, 200);
        await setFlags.executeWithOptions({ ...SET_FLAGS, summary }, [
          { providerName: plan.target.provider, provider: flagProvider, flags: c.flags, percent: c.percent, enabled: c.enabled },
        ]);
      } catch (err) {
        // Out of retries (FlagWriteFailed): the machine decides what a failed write means, and retries it.
        if (err instanceof ActivityFailure) return { ok: false as const, detail: err.cause?.message ?? err.message };
        throw err;
      }
    },
    setConfig: (c) => setConfig({ key: c.key, value: c.value }),
    observe: async (c) => ({
      // `value` conditions with `from: flag` read the target provider's flags.
      flags: c.flags.length > 0 ? await readFlags({ providerName: plan.target.provider, provider: flagProvider, keys: c.flags }) : undefined,
      metrics: await observe(`observe ${c.metrics.join(', ')}`.slice(0, 200), {
        metrics: c.metrics.flatMap((name) => {
          const def = plan.metrics[name];
          const source = def && plan.providers.metrics[def.source];
          return def && source ? [{ name, sourceName: def.source, source, query: def.query }] : [];
        }),
        at: state.now,
        rolloutStartedAt: state.startedAt,
      }),
    }),
    checkProviders: () => {
      // Rollouts started before this check existed replay without it: their providers were never asked.
      if (!patched('check-providers')) return Promise.resolve({ offline: [] });
      const used = [...new Set(Object.values(plan.metrics).map((def) => def.source))];
      return checkProviders({
        metrics: used.flatMap((name) => (plan.providers.metrics[name] ? [{ name, source: plan.providers.metrics[name] }] : [])),
        flags: { name: plan.target.provider, provider: flagProvider, keys: plan.target.flags },
      });
    },
    runTask: (c) => {
      const task = findPlanTask(plan, c.scope, c.task);
      return task ? runTask({ task, scope: c.scope }) : Promise.resolve({ ok: false, detail: `task ${c.task} not in plan` });
    },
    runCheck: (c) => {
      const cond = compiled.checkConditions.get(c.check);
      return cond ? runCheck({ condition: cond }) : Promise.resolve({ ok: false, detail: `check ${c.check} not in plan` });
    },
    notify: (c) => {
      const channels = c.channels.flatMap((name) => (plan.channels[name] ? [{ name, config: plan.channels[name] }] : []));
      if (!trustV2) {
        // The path of rollouts started before trust-v2: one activity for every channel, awaited in line.
        return notify({ rolloutId: info.workflowId, event: c.event, message: c.message, channels }).catch((err: unknown) =>
          log.warn('notification failed', { event: c.event, error: String(err) }),
        );
      }
      const seq = ++notificationSeq;
      for (const channel of channels) {
        const idempotencyKey = `${info.workflowId}/${info.runId}/${seq}/${channel.name}`;
        const delivery: Promise<void> = notifyChannel
          .executeWithOptions({ ...NOTIFY_CHANNEL, summary: `notify ${channel.name}: ${c.event}` }, [
            { rolloutId: info.workflowId, channel, event: c.event, message: c.message, idempotencyKey, ...(c.approval ? { approval: c.approval } : {}) },
          ])
          .catch((err: unknown) => {
            const detail = err instanceof ActivityFailure ? (err.cause?.message ?? err.message) : String(err);
            inbox.push({ event: { type: 'notification-failed', at: Date.now(), channel: channel.name, event: c.event, detail: detail.slice(0, 500) } });
          })
          .finally(() => inFlight.delete(delivery));
        inFlight.add(delivery);
      }
      return Promise.resolve();
    },
  };

  // --- messages. Every payload is parsed before anything else; one that does not parse is refused in the ops log.
  // Signatures travel inside the queued message and are checked by the loop before the event counts: nothing a
  // validator or another message does can remove or replace them.
  const nextId = (type: string) => `${type}-${info.runId}-${++messageSeq}`;
  const toEvent = <T extends MessageEvent['type']>(type: T, id: string | undefined, body: object): MessageEvent =>
    ({ type, at: Date.now(), id: id ?? nextId(type), ...body }) as MessageEvent;
  type Parsed<I> = { ok: true; input: I } | { ok: false; refused: Extract<RolloutEvent, { type: 'message-refused' }> };
  const parse = <I>(schema: z.ZodType<I>, message: string, raw: unknown): Parsed<I> => {
    const why = isUndecodable(raw) ? raw[UNDECODABLE] : undefined;
    const result = why === undefined ? schema.safeParse(raw) : undefined;
    if (result?.success) return { ok: true, input: result.data };
    const reason = why ?? describeIssues(result?.error);
    return { ok: false, refused: { type: 'message-refused', at: Date.now(), message: `${message} message`, reason } };
  };

  /** Update id → the ops-log lines its event caused, until the update handler has read them. */
  const processed = new Map<string, OpsLogEntry[]>();
  const updateIds = new Set<string>();
  const enqueueAndWait = async (queued: Inbound & { event: MessageEvent }): Promise<m.MessageOutcome> => {
    const { event } = queued;
    updateIds.add(event.id);
    inbox.push(queued);
    // Not cut short by a cancellation request: the rollout still processes the message, and its sender must hear so.
    await CancellationScope.nonCancellable(() => condition(() => processed.has(event.id)));
    updateIds.delete(event.id);
    // Only what this message caused: a signal processed in the same loop step has its own lines.
    const log = processed.get(event.id) ?? [];
    processed.delete(event.id);
    // Refused only after it was queued: a signature that did not verify (the validator cannot run activities).
    const refused = log.find((e) => e.action === 'refuse')?.refusal;
    if (refused) throw refusedFailure(refused);
    return { accepted: true, status: state.status, log };
  };

  /** Feeds a message; an update waiting on it gets the ops-log lines it caused (signals have nobody waiting). */
  const handleMessage = async (event: RolloutEvent): Promise<void> => {
    const logStart = state.opsLog.length;
    await feed(compiled, state, event, effects);
    if ('id' in event && updateIds.has(event.id)) processed.set(event.id, state.opsLog.slice(logStart));
  };

  /** The event a queued message stands for once its signature (if it needs one) has been checked. */
  const verify = async ({ event, signature }: Inbound): Promise<RolloutEvent> => {
    if (event.type !== 'approval' && event.type !== 'consume-token') return event;
    // Whatever the payload claimed, only a signature checked here counts as verified.
    if (!signature) return { ...event, verified: false };
    const verdict = await verifySignature({
      jws: signature,
      keyRefs: plan.roles[event.role]?.keys ?? [],
      at: event.at,
      decision:
        event.type === 'approval'
          ? { rollout: info.workflowId, action: event.decision, role: event.role, by: event.by, id: event.id, subject: event.subject }
          : { rollout: info.workflowId, action: 'consume-token', role: event.role, by: event.by, id: event.id, token: event.token },
    });
    return verdict.verified ? { ...event, verified: true } : { ...event, verified: false, signatureProblem: verdict.problem };
  };

  const approval = (decision: 'approve' | 'reject') => (i: m.ApproveInput): Inbound & { event: MessageEvent } => ({
    event: toEvent('approval', i.id, { role: i.role, by: i.by, subject: i.subject, reason: i.reason, decision, verified: false }),
    signature: i.signature,
  });
  const token = (i: m.ConsumeTokenInput): Inbound & { event: MessageEvent } => ({
    event: toEvent('consume-token', i.id, { token: i.token, by: i.by, role: i.role, verified: false }),
    signature: i.signature,
  });
  const unsigned =
    <I>(build: (i: I) => MessageEvent) =>
    (i: I): Inbound & { event: MessageEvent } => ({ event: build(i) });
  const attest = unsigned((i: m.AttestInput) => toEvent('attestation', i.id, { check: i.check, by: i.by, note: i.note }));
  const report = unsigned((i: m.ReportValueInput) => toEvent('report-value', i.id, { name: i.name, value: i.value, by: i.by }));
  const operator = unsigned((i: m.OperatorInput) => toEvent('operator', i.id, { command: i.command, by: i.by, role: i.role, reason: i.reason }));

  // Updates: the validator refuses with the machine's reason (nothing is written to history); a payload that does not
  // parse passes the validator so the handler can refuse it in the ops log. The update id doubles as the message id.
  const register = <I extends { id?: string }>(
    update: UpdateDefinition<m.MessageOutcome, [I]>,
    schema: z.ZodType<I>,
    build: (i: I) => Inbound & { event: MessageEvent },
  ) => {
    const withUpdateId = (i: I): I => ({ ...i, id: i.id ?? currentUpdateInfo()?.id });
    setHandler(update, async (raw: unknown) => {
      const parsed = parse(schema, update.name, raw);
      if (!parsed.ok) {
        inbox.push({ event: parsed.refused });
        throw refusedFailure({ code: 'malformed', message: parsed.refused.reason });
      }
      return enqueueAndWait(build(withUpdateId(parsed.input)));
    }, {
      description: m.messageDescriptions[update.name],
      validator: (raw: unknown) => {
        const parsed = parse(schema, update.name, raw);
        if (!parsed.ok) return;
        // A signature is judged by the loop; everything else the machine can judge now. Validators do not run on
        // replay, so nothing here may draw on the run's counters: the update id is the message id.
        const { event, signature } = build({ ...parsed.input, id: parsed.input.id ?? currentUpdateInfo()?.id ?? 'update' });
        const why = updateRefusal(compiled, state, 'verified' in event ? { ...event, verified: Boolean(signature) } as MessageEvent : event);
        if (why) throw new Error(why.message);
      },
    });
  };
  register(m.approveUpdate, m.ApproveInput, approval('approve'));
  register(m.rejectUpdate, m.ApproveInput, approval('reject'));
  register(m.consumeTokenUpdate, m.ConsumeTokenInput, token);
  register(m.attestUpdate, m.AttestInput, attest);
  register(m.reportValueUpdate, m.ReportValueInput, report);
  register(m.operatorUpdate, m.OperatorInput, operator);

  /** A signal: parsed, then queued; one that does not parse is queued as its own refusal. */
  const onSignal = <I>(signal: SignalDefinition<[I]>, schema: z.ZodType<I>, build: (i: I) => Inbound) =>
    setHandler(
      signal,
      (raw: unknown) => {
        const parsed = parse(schema, signal.name, raw);
        inbox.push(parsed.ok ? build(parsed.input) : { event: parsed.refused });
      },
      { description: m.messageDescriptions[signal.name] },
    );
  onSignal(m.approveSignal, m.ApproveInput, approval('approve'));
  onSignal(m.rejectSignal, m.ApproveInput, approval('reject'));
  onSignal(m.consumeTokenSignal, m.ConsumeTokenInput, token);
  onSignal(m.attestSignal, m.AttestInput, attest);
  onSignal(m.reportValueSignal, m.ReportValueInput, report);
  onSignal(m.operatorSignal, m.OperatorInput, operator);
  onSignal(m.incidentSignal, m.IncidentInput, unsigned((i) => toEvent('incident', i.id, { severity: i.severity, title: i.title, status: i.status })));
  onSignal(m.alertSignal, m.AlertInput, unsigned((i) => toEvent('alert', i.id, { alert: i.alert, status: i.status, labels: i.labels })));
  onSignal(m.spendSignal, m.SpendInput, unsigned((i) => toEvent('spend', i.id, { budget: i.budget, total: i.total })));
  onSignal(m.taskResultSignal, m.TaskResultInput, (i) => ({
    event: { type: 'task-result', at: Date.now(), task: i.task, scope: i.scope, ok: i.ok, by: i.by, detail: i.detail },
  }));
  setHandler(m.statusQuery, () => statusOf(compiled, state, info.workflowId), { description: m.messageDescriptions.status });
  setHandler(m.resultQuery, () => resultOf(compiled, state), { description: m.messageDescriptions.result });
  setHandler(m.planQuery, () => plan, { description: m.messageDescriptions.plan });

  // --- the loop
  let shown = '';
  let detailed = '';
  const show = () => {
    // What the Temporal UI shows as the rollout's current details: where it is and what it waits for.
    const details = currentDetails(plan, state);
    if (details !== detailed) setCurrentDetails((detailed = details));
    const phase = plan.phases[state.phaseIndex]?.name ?? 'before-start';
    const now = `${state.status}|${phase}|${state.percent}`;
    if (now === shown) return;
    shown = now;
    upsertSearchAttributes([
      { key: canaryPlanIdKey, value: plan.id },
      { key: canaryStatusKey, value: state.status },
      { key: canaryPhaseKey, value: phase },
      { key: canaryTrafficPercentKey, value: state.percent },
    ]);
  };
  let flagLocked = input.flagLocked ?? false;
  const lockRequest = { rolloutId: info.workflowId, providerName: plan.target.provider, provider: flagProvider, flags: plan.target.flags };

  // A cancellation request (the Temporal UI's "Request Cancellation", `temporal workflow cancel`) must never cut a
  // flag write, a rollback or a lock release short: everything below runs in a scope the request cannot reach, and
  // the request becomes an event the loop hands to the machine, which aborts the rollout the safe way. The workflow
  // then completes with its record. Rollouts started before this rule (no 'cancel-rolls-back' marker) end cancelled.
  let cancelRequested = false;
  let cancelHandled = false;
  /** The scope taking the flag locks, which never gives up on its own: a cancellation request stops it. */
  let lockScope: CancellationScope | undefined;
  CancellationScope.current().cancelRequested.catch(() => {
    cancelRequested = true;
    lockScope?.cancel();
  });
  /** The flag locks, or undefined when a cancellation request stopped the taking (nothing was written yet). */
  const takeLocks = async (): Promise<Awaited<ReturnType<typeof acquireFlagLocks>> | undefined> => {
    if (cancelRequested) return undefined;
    lockScope = new CancellationScope();
    try {
      return await lockScope.run(() => acquireFlagLocks(lockRequest));
    } catch (err) {
      if (cancelRequested && isCancellation(err)) return undefined;
      throw err;
    } finally {
      lockScope = undefined;
    }
  };
  const takeCancellation = async (): Promise<void> => {
    if (!cancelRequested || cancelHandled) return;
    cancelHandled = true;
    if (!patched('cancel-rolls-back')) throw new CancelledFailure('Workflow cancelled');
    await feed(compiled, state, { type: 'cancel-requested', at: Date.now() }, effects);
    show();
  };
  const pendingCancellation = () => cancelRequested && !cancelHandled;

  // A finished rollout whose last flag write keeps failing stays open, retrying it, until the write goes through.
  const runUntilSettled = async (): Promise<void> => {
    while (!isSettled(state)) {
      await takeCancellation();
      if (isSettled(state)) break;
      const wait = state.wakeAt === undefined ? undefined : state.wakeAt - Date.now();
      if (inbox.length === 0 && (wait === undefined || wait > 0)) {
        if (wait === undefined) await condition(() => inbox.length > 0 || pendingCancellation());
        else await condition(() => inbox.length > 0 || pendingCancellation(), wait, { summary: timerSummary(state) });
      }
      if (pendingCancellation()) continue;
      const phaseBefore = state.phaseIndex;
      if (inbox.length > 0) {
        while (inbox.length > 0) {
          await handleMessage(await verify(inbox.shift() as Inbound));
        }
      } else {
        await feed(compiled, state, { type: 'tick', at: timerEventTime(state.wakeAt, Date.now()) }, effects);
      }
      show();
      if (isSettled(state)) break;
      const history = workflowInfo();
      if (history.continueAsNewSuggested || history.historyLength >= maxEvents || (phaseBefore !== state.phaseIndex && history.historyLength > 500)) {
        await condition(allHandlersFinished);
        // Notifications still on their way would lose their failure reports: wait for them unless history is too long.
        const overdue = history.historyLength >= maxEvents + 2_000;
        if (inbox.length === 0 && !pendingCancellation() && (inFlight.size === 0 || overdue)) await continueAsNew<typeof rolloutWorkflow>({ ...input, state, flagLocked });
      }
    }
  };

  return CancellationScope.nonCancellable(async () => {
    if (!input.state) {
      upsertMemo({ plan: { id: plan.id, name: plan.name, flags: plan.target.flags, environment: plan.target.environment, phases: plan.phases.map((p) => `${p.name} ${p.percent}%`) } });
      // One rollout per flag, whatever its workflow id: the locks come before anything is written.
      const lock = trustV2 ? await takeLocks() : { granted: true as const };
      if (lock === undefined) {
        // Cancelled while taking the locks: any the activity took anyway are given back (the release leaves alone
        // locks this rollout does not hold), and the loop hands the cancellation to the machine, which ends it.
        await releaseLeftLocks(lockRequest).catch((err: unknown) => log.warn('flag locks left to be taken over', { error: String(err) }));
      } else if (lock.granted) {
        flagLocked = trustV2;
        await feed(compiled, state, { type: 'start', at: Date.now() }, effects);
      } else {
        await feed(compiled, state, { type: 'flag-lock-refused', at: Date.now(), flag: lock.flag, holder: lock.holder }, effects);
      }
      show();
    }
    await runUntilSettled();
    // The rollout is over and its flags are settled: let the last notifications land (or fail and be reported).
    await condition(() => inFlight.size === 0);
    if (flagLocked) await releaseFlagLocks(lockRequest);
    // Messages that arrived as the rollout finished are refused in the ops log, and their updates answered.
    while (inbox.length > 0) await handleMessage((inbox.shift() as Inbound).event);
    await condition(allHandlersFinished);
    return resultOf(compiled, state);
  });
}

/** An update's refusal: the message for people, the refusal (with its code) as the failure's details. */
function refusedFailure(refusal: Refusal): ApplicationFailure {
  return ApplicationFailure.create({ message: refusal.message, type: 'MessageRefused', nonRetryable: true, details: [refusal] });
}

/** A zod error in one line: each problem with the field it is about ("by: expected string, received number"). */
function describeIssues(error: z.ZodError | undefined): string {
  if (!error) return 'the payload could not be parsed';
  const lines = error.issues.slice(0, 5).map((issue) => `${issue.path.length ? issue.path.join('.') : 'payload'}: ${issue.message}`);
  return `malformed payload: ${lines.join('; ')}${error.issues.length > 5 ? ` (+${error.issues.length - 5} more)` : ''}`.slice(0, 1_000);
}

/** What the loop's timer waits for, for the Temporal UI's timeline ("minimum duration 15s (11s left)", "next evaluation"). */
function timerSummary(state: RolloutState): string {
  const first = state.waits?.[0];
  const what = first ? describeWait(first) : state.nextObservationAt !== undefined ? 'next evaluation' : 'next step';
  return what.slice(0, 200);
}

/** The rollout's current details in the Temporal UI: status, phase, percent and each wait, as Markdown. */
function currentDetails(plan: Plan, state: RolloutState): string {
  const phase = plan.phases[state.phaseIndex]?.name ?? 'before-start';
  const lines = [`**${state.status}** — ${phase} at ${state.percent}%${state.outcome ? ` (outcome: ${state.outcome})` : ''}`];
  for (const wait of state.waits ?? []) lines.push(`- waiting for ${describeWait(wait)}`);
  return lines.join('\n').slice(0, 4_000);
}
