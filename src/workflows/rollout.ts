/**
 * The rollout workflow: a thin interpreter of the rollout machine. It feeds events in (messages, timer ticks,
 * activity results), carries out the machine's commands with activities and one durable timer, answers queries from
 * the machine's state, and continues as new when history grows. Every decision is the machine's.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  currentUpdateInfo,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import type { RolloutActivities } from '../activities/rollout-activities';
import { checkKey } from '../domain/conditions';
import { feed, timerEventTime, type Effects } from '../domain/driver';
import { gatesOf, initialState, isSettled, resultOf, updateRefusal } from '../domain/machine';
import type { MessageEvent, OpsLogEntry, RolloutEvent, RolloutResult, RolloutState } from '../domain/types';
import { tryParseDuration } from '../domain/duration';
import { sustainProgress } from '../domain/sustain';
import type { Plan } from '../plan/schema';
import { findPlanTask } from '../plan/tasks';
import * as m from './messages';
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
}

const { setFlags, setConfig, runTask, runCheck, notify } = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumInterval: '1m', maximumAttempts: 10 },
});
// Metric reads are frequent and cheap to repeat: a local activity costs one history event instead of three.
const local = proxyLocalActivities<RolloutActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3 },
});
const remote = proxyActivities<RolloutActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

export async function rolloutWorkflow(input: RolloutWorkflowInput): Promise<RolloutResult> {
  const { plan } = input;
  const info = workflowInfo();
  const state = input.state ?? initialState(Date.now());
  const inbox: RolloutEvent[] = [];
  // Well under the server's 4,096-event suggestion: a loop step (a batch of checks) may add a few dozen after the check.
  const maxEvents = input.maxHistoryEvents ?? 3_800;
  const { observeMetrics, verifySignature, checkProviders, readFlags } = input.localActivities === false ? remote : local;

  // The plan was validated before it started: its target names a flag provider it declares.
  const flagProvider = plan.providers.flags[plan.target.provider] as Plan['providers']['flags'][string];
  const effects: Effects = {
    setFlags: async (c) => {
      try {
        await setFlags({ providerName: plan.target.provider, provider: flagProvider, flags: c.flags, percent: c.percent, enabled: c.enabled });
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
      metrics: await observeMetrics({
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
      const cond = findCheckCondition(plan, c.check);
      return cond ? runCheck({ condition: cond }) : Promise.resolve({ ok: false, detail: `check ${c.check} not in plan` });
    },
    // A notification that cannot be delivered is logged by the worker; it never stops a rollout.
    notify: (c) =>
      notify({
        rolloutId: info.workflowId,
        event: c.event,
        message: c.message,
        channels: c.channels.flatMap((name) => (plan.channels[name] ? [{ name, config: plan.channels[name] }] : [])),
      }).catch((err: unknown) => log.warn('notification failed', { event: c.event, error: String(err) })),
  };

  // --- messages: updates validate with the machine's own refusal rules; signals are refused in the ops log.
  const toEvent = <T extends MessageEvent['type']>(type: T, id: string | undefined, body: object): MessageEvent =>
    ({ type, at: Date.now(), id: id ?? `${type}-${info.runId}-${Date.now()}-${inbox.length}`, ...body }) as MessageEvent;
  const validate = (event: MessageEvent) => {
    // The handler builds the event again and keeps its signature; a validator leaves nothing behind.
    signatures.delete(event.id);
    const why = updateRefusal(plan, state, event);
    if (why) throw new Error(why);
  };
  /** Update id → the ops-log lines its event caused, until the update handler has read them. */
  const processed = new Map<string, OpsLogEntry[]>();
  const updateIds = new Set<string>();
  const enqueueAndWait = async (event: MessageEvent): Promise<m.MessageOutcome> => {
    updateIds.add(event.id);
    inbox.push(event);
    await condition(() => processed.has(event.id));
    updateIds.delete(event.id);
    // Only what this message caused: a signal processed in the same loop step has its own lines.
    const log = processed.get(event.id) ?? [];
    processed.delete(event.id);
    // Refused only after it was queued: a signature that did not verify (the validator cannot run activities).
    const refused = log.find((e) => e.action === 'refuse');
    // The ops log names the message ("approve by cfo x refused: …"); the caller knows which message it sent.
    if (refused) throw ApplicationFailure.nonRetryable(refused.reason.replace(/^.*? refused: /, ''), 'MessageRefused');
    return { accepted: true, status: state.status, log };
  };

  /** Feeds a message; an update waiting on it gets the ops-log lines it caused (signals have nobody waiting). */
  const handleMessage = async (event: RolloutEvent): Promise<void> => {
    const logStart = state.opsLog.length;
    await feed(plan, state, event, effects);
    if ('id' in event && updateIds.has(event.id)) processed.set(event.id, state.opsLog.slice(logStart));
  };

  // Signatures travel beside the event, not in the machine state; the worker verifies them before the event counts.
  const signatures = new Map<string, string>();
  const signed = (event: MessageEvent, signature: string | undefined): MessageEvent => {
    if (signature) signatures.set(event.id, signature);
    return event;
  };
  const verify = async (event: RolloutEvent): Promise<RolloutEvent> => {
    if ((event.type !== 'approval' && event.type !== 'consume-token') || !signatures.has(event.id)) return event;
    const jws = signatures.get(event.id) as string;
    signatures.delete(event.id);
    const verdict = await verifySignature({
      jws,
      keyRefs: plan.roles[event.role]?.keys ?? [],
      at: event.at,
      decision:
        event.type === 'approval'
          ? { rollout: info.workflowId, action: event.decision, role: event.role, by: event.by, id: event.id, subject: event.subject }
          : { rollout: info.workflowId, action: 'consume-token', role: event.role, by: event.by, id: event.id, token: event.token },
    });
    return verdict.verified ? { ...event, verified: true } : { ...event, verified: false, signatureProblem: verdict.problem };
  };

  // `verified` is provisional until the loop has checked the signature: validators judge everything else.
  const approval = (decision: 'approve' | 'reject') => (i: m.ApproveInput) =>
    signed(toEvent('approval', i.id, { role: i.role, by: i.by, subject: i.subject, reason: i.reason, decision, verified: Boolean(i.signature) }), i.signature);
  const token = (i: m.ConsumeTokenInput) =>
    signed(toEvent('consume-token', i.id, { token: i.token, by: i.by, role: i.role, verified: Boolean(i.signature) }), i.signature);
  const attest = (i: m.AttestInput) => toEvent('attestation', i.id, { check: i.check, by: i.by, note: i.note });
  const report = (i: m.ReportValueInput) => toEvent('report-value', i.id, { name: i.name, value: i.value, by: i.by });
  const operator = (i: m.OperatorInput) => toEvent('operator', i.id, { command: i.command, by: i.by, role: i.role, reason: i.reason });

  // Updates: the validator refuses with the machine's reason (nothing is written to history); the handler queues the
  // event and answers once the loop has processed it. The update id doubles as the message id.
  const withUpdateId = <I extends { id?: string }>(i: I): I => ({ ...i, id: i.id ?? currentUpdateInfo()?.id });
  const register = <I extends { id?: string }>(update: UpdateDefinition<m.MessageOutcome, [I]>, build: (i: I) => MessageEvent) =>
    setHandler(update, (i) => enqueueAndWait(build(withUpdateId(i))), { validator: (i) => validate(build(withUpdateId(i))) });
  register(m.approveUpdate, approval('approve'));
  register(m.rejectUpdate, approval('reject'));
  register(m.consumeTokenUpdate, token);
  register(m.attestUpdate, attest);
  register(m.reportValueUpdate, report);
  register(m.operatorUpdate, operator);
  setHandler(m.approveSignal, (i) => void inbox.push(approval('approve')(i)));
  setHandler(m.rejectSignal, (i) => void inbox.push(approval('reject')(i)));
  setHandler(m.consumeTokenSignal, (i) => void inbox.push(token(i)));
  setHandler(m.attestSignal, (i) => void inbox.push(attest(i)));
  setHandler(m.reportValueSignal, (i) => void inbox.push(report(i)));
  setHandler(m.operatorSignal, (i) => void inbox.push(operator(i)));
  setHandler(m.incidentSignal, (i) => void inbox.push(toEvent('incident', i.id, { severity: i.severity, title: i.title, status: i.status })));
  setHandler(m.alertSignal, (i) => void inbox.push(toEvent('alert', i.id, { alert: i.alert, status: i.status, labels: i.labels })));
  setHandler(m.spendSignal, (i) => void inbox.push(toEvent('spend', i.id, { budget: i.budget, total: i.total })));
  setHandler(m.taskResultSignal, (i) =>
    void inbox.push({ type: 'task-result', at: Date.now(), task: i.task, scope: i.scope, ok: i.ok, by: i.by, detail: i.detail }),
  );
  setHandler(m.statusQuery, () => statusView(plan, state, info.workflowId));
  setHandler(m.resultQuery, () => resultOf(plan, state));
  setHandler(m.planQuery, () => plan);

  // --- the loop
  let shown = '';
  const show = () => {
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
  if (!input.state) {
    upsertMemo({ plan: { id: plan.id, name: plan.name, flags: plan.target.flags, environment: plan.target.environment, phases: plan.phases.map((p) => `${p.name} ${p.percent}%`) } });
    await feed(plan, state, { type: 'start', at: Date.now() }, effects);
    show();
  }

  // A finished rollout whose last flag write keeps failing stays open, retrying it, until the write goes through.
  while (!isSettled(state)) {
    const wait = state.wakeAt === undefined ? undefined : state.wakeAt - Date.now();
    if (inbox.length === 0 && (wait === undefined || wait > 0)) {
      if (wait === undefined) await condition(() => inbox.length > 0);
      else await condition(() => inbox.length > 0, wait);
    }
    const phaseBefore = state.phaseIndex;
    if (inbox.length > 0) {
      while (inbox.length > 0) {
        await handleMessage(await verify(inbox.shift() as RolloutEvent));
      }
    } else {
      await feed(plan, state, { type: 'tick', at: timerEventTime(state.wakeAt, Date.now()) }, effects);
    }
    show();
    if (isSettled(state)) break;
    const history = workflowInfo();
    if (history.continueAsNewSuggested || history.historyLength >= maxEvents || (phaseBefore !== state.phaseIndex && history.historyLength > 500)) {
      await condition(allHandlersFinished);
      if (inbox.length === 0) await continueAsNew<typeof rolloutWorkflow>({ ...input, state });
    }
  }
  // Messages that arrived as the rollout finished are refused in the ops log, and their updates answered.
  while (inbox.length > 0) await handleMessage(inbox.shift() as RolloutEvent);
  await condition(allHandlersFinished);
  return resultOf(plan, state);
}

function findCheckCondition(plan: Plan, key: string) {
  const all = [
    ...[...plan.checks, ...plan.gates, ...plan.phases.flatMap((p) => [...(p.entry ?? []), ...(p.gates ?? [])])].map((c) => c.when),
    ...[...plan.triggers, ...plan.phases.flatMap((p) => p.triggers ?? [])].map((t) => t.when),
  ];
  return all.find(
    (c): c is Extract<typeof c, { kind: 'http' | 'command' }> =>
      (c.kind === 'http' || c.kind === 'command') && checkKey(c) === key,
  );
}

function statusView(plan: Plan, state: RolloutState, rolloutId: string): m.RolloutStatusView {
  const phase = plan.phases[state.phaseIndex];
  const minMs = tryParseDuration(phase?.minDuration ?? '');
  return {
    rolloutId,
    planId: plan.id,
    status: state.status,
    outcome: state.outcome,
    phase: phase?.name ?? 'before-start',
    phaseIndex: state.phaseIndex,
    percent: state.percent,
    phaseEnteredAt: state.phaseEnteredAt,
    minimumEndsAt: phase && minMs !== undefined ? state.phaseEnteredAt + minMs : undefined,
    waitingFor: state.waitingFor,
    hold: state.hold && { reason: state.hold.reason, since: state.hold.since, deadline: state.hold.deadline, decidedBy: state.hold.decidedBy },
    gates: phase
      ? gatesOf(plan, phase).map(({ key, check }) => {
          const track = state.tracks[key];
          const progress = sustainProgress(track, check.when, state.now);
          return { name: check.name, satisfied: track?.satisfied ?? false, detail: track?.detail && progress ? `${track.detail}; ${progress}` : track?.detail };
        })
      : [],
    opsLog: state.opsLog.slice(-50) as OpsLogEntry[],
  };
}
