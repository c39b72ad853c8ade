/**
 * The rollout machine: every decision of a rollout, as a pure function `(plan, state, event) → (state, commands)`.
 * No I/O, no clock, no Temporal. The workflow, the simulator and the tests all drive this machine.
 *
 * Lifecycle: preconditions and tokens → phases in order (enter: entry checks, approvals, budgets; stay: minimum
 * duration or end of day, gates, `until` checks, exit approvals, required tasks) → re-freeze → stabilization →
 * success criteria → completed. Triggers can hold, pause, revert a phase, roll back or kill at any time; operators
 * can pause, resume, promote, force-promote, abort, roll back or kill.
 */
import type { CheckDef, ConditionDef, PhaseDef, Plan, TaskDef, TriggerDef } from './plan-schema';
import { endOfDayReached, insideWindows, nextDailyAt, nextWindowOpening } from './calendar';
import { checkKey, evaluateCondition, metricsOf, validApprovers, type EvalContext, type Verdict } from './conditions';
import { formatDuration, tryParseDuration } from './duration';
import { newTrack, updateTrack, type Polarity } from './sustain';
import { describeUnmet, describeWait, describeWrite, tokenHolds, type UnmetCheck, type Wait } from './waits';
import type {
  Compensation,
  DecisionAction,
  MessageEvent,
  MetricReading,
  Millis,
  NotificationEvent,
  OperatorCommand,
  Outcome,
  RolloutCommand,
  RolloutEvent,
  RolloutResult,
  RolloutState,
  RolloutStatus,
} from './types';

const ms = (text: string | undefined): number | undefined => (text === undefined ? undefined : tryParseDuration(text));
const MAX_PROCESSED_IDS = 2_000;
/** Malformed messages logged one by one before only every this-many-th is (the rest are counted). */
const MALFORMED_LOGGED = 100;
/** Operator commands that move toward safety: `controls.safety` roles may give them besides `controls.operators`. */
const SAFETY_COMMANDS: readonly OperatorCommand[] = ['pause', 'rollback', 'abort', 'kill'];
const MAX_HISTORY = 500;
const CHECK_REFRESH_MS = 5 * 60_000;
const TERMINAL: RolloutStatus[] = ['completed', 'rolled_back', 'aborted', 'killed'];
const SEVERITY: Record<TriggerDef['action'], number> = { kill: 7, rollback: 6, abort: 5, 'revert-phase': 4, hold: 3, pause: 2, alert: 1 };

/**
 * Facts derived from a plan alone, computed once per plan object: the machine looks them up on every tick.
 * (A cache of pure functions of the plan; it never holds rollout state.)
 */
interface Derived {
  allConditions: ConditionDef[];
  anomalyMetrics: Set<string>;
  flagReads: string[];
  active: Map<string, Array<{ key: string; cond: ConditionDef; polarity: Polarity }>>;
  metrics: Map<string, string[]>;
  /** Phase index → keys of the http and command conditions in force there. */
  checks: Map<number, string[]>;
}
const derivedByPlan = new WeakMap<Plan, Derived>();

const taskKeys = new Map<string, Map<string, string>>();
/** `<scope>:<task>`, the key of a task's runs (built once: it is looked up on every tick). */
function taskKey(scope: string, task: string): string {
  let byTask = taskKeys.get(scope);
  if (!byTask) taskKeys.set(scope, (byTask = new Map()));
  let key = byTask.get(task);
  if (key === undefined) byTask.set(task, (key = `${scope}:${task}`));
  return key;
}

const beforeRolloutKeys = new Map<string, string>();
/** `before-rollout:<metric>`, the key of a metric's baseline captured before traffic moved. */
function beforeRolloutKey(metric: string): string {
  let key = beforeRolloutKeys.get(metric);
  if (key === undefined) beforeRolloutKeys.set(metric, (key = `before-rollout:${metric}`));
  return key;
}

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
  };
}

/** Pure step: returns a new state and the commands to carry out. */
export function step(plan: Plan, state: RolloutState, event: RolloutEvent): { state: RolloutState; commands: RolloutCommand[] } {
  const next = structuredClone(state);
  const commands = apply(plan, next, event);
  return { state: next, commands };
}

/**
 * The same as {@link step}, updating `state` in place: the hot path of the workflow and the simulator, which own
 * their state. Deterministic for the same inputs.
 */
export function apply(plan: Plan, state: RolloutState, event: RolloutEvent): RolloutCommand[] {
  const commands = new Run(plan, state).handle(event);
  // A new write of a flag supersedes a failed earlier write of it that is waiting to be retried.
  if (state.pendingFlagWrites?.length) {
    const written = new Set(commands.flatMap((c) => (c.type === 'set-flags' && !c.retry ? c.flags : [])));
    if (written.size) state.pendingFlagWrites = state.pendingFlagWrites.filter((w) => !w.flags.some((f) => written.has(f)));
  }
  return commands;
}

/** True once the rollout reached an outcome. */
export function isFinished(state: RolloutState): boolean {
  return TERMINAL.includes(state.status);
}

/** Finished, and every flag write it made went through: nothing is left to do. */
export function isSettled(state: RolloutState): boolean {
  return isFinished(state) && !state.pendingFlagWrites?.length;
}

/**
 * Why `event` would be refused, or undefined if it is acceptable. Update validators call this to reject with a
 * reason before anything is written to history; signals that fail it are logged as refused.
 */
export function refusal(plan: Plan, state: RolloutState, event: MessageEvent): string | undefined {
  return new Run(plan, state).refusal(event);
}

/**
 * Why an Update carrying `event` is rejected before anything is written, or undefined to accept it. The same as
 * {@link refusal}, except that a message whose only fault is its signature is accepted: the signature is verified
 * (or found missing) afterwards, and the machine then records the refusal in the ops log, so an unsigned or forged
 * CFO approval leaves a trace.
 */
export function updateRefusal(plan: Plan, state: RolloutState, event: MessageEvent): string | undefined {
  const why = refusal(plan, state, event);
  if (why && (event.type === 'approval' || event.type === 'consume-token') && !refusal(plan, state, { ...event, verified: true })) return undefined;
  return why;
}

/** The result of a rollout: outcome, final traffic, every decision and the full ops log. */
export function resultOf(plan: Plan, state: RolloutState): RolloutResult {
  return {
    // A rollout without an outcome yet is waiting on something (a hold, a pause, an approval, time): held.
    outcome: state.outcome ?? 'held',
    finalPercent: state.percent,
    phase: phaseName(plan, state.phaseIndex),
    // `time` beside `at`: the Temporal UI shows the result as JSON, where epoch milliseconds read as noise.
    decisions: state.opsLog.map(({ at, phase, action, reason }) => ({ at, time: new Date(at).toISOString(), phase, action, reason })),
    opsLog: state.opsLog,
    rollbackVerified: state.rollback?.verified,
    successCriteria: state.successCriteria,
  };
}

function phaseName(plan: Plan, index: number): string {
  return index < 0 ? 'before-start' : (plan.phases[index]?.name ?? 'unknown');
}

const gatesByPhase = new WeakMap<PhaseDef, Array<{ key: string; check: CheckDef }>>();
const triggersByPhase = new WeakMap<PhaseDef | Plan, Array<{ key: string; trigger: TriggerDef }>>();

/** Shared gates that apply to `phase`, then its own. The list is shared: do not change it. */
export function gatesOf(plan: Plan, phase: PhaseDef): Array<{ key: string; check: CheckDef }> {
  let list = gatesByPhase.get(phase);
  if (!list) gatesByPhase.set(phase, (list = computeGatesOf(plan, phase)));
  return list;
}

function computeGatesOf(plan: Plan, phase: PhaseDef): Array<{ key: string; check: CheckDef }> {
  const shared = plan.gates.filter((g) => !phase.useGates || phase.useGates.includes(g.name));
  return [
    ...shared.map((check) => ({ key: `gate:${phase.name}:${check.name}`, check })),
    ...(phase.gates ?? []).map((check) => ({ key: `gate:${phase.name}:${check.name}`, check })),
  ];
}

/** Rollout-wide triggers, then the phase's own. The list is shared: do not change it. */
export function triggersOf(plan: Plan, phase: PhaseDef | undefined): Array<{ key: string; trigger: TriggerDef }> {
  const owner = phase ?? plan;
  let list = triggersByPhase.get(owner);
  if (!list) triggersByPhase.set(owner, (list = computeTriggersOf(plan, phase)));
  return list;
}

function computeTriggersOf(plan: Plan, phase: PhaseDef | undefined): Array<{ key: string; trigger: TriggerDef }> {
  return [
    ...plan.triggers.map((trigger) => ({ key: `trigger:${trigger.name}`, trigger })),
    ...(phase?.triggers ?? []).map((trigger) => ({ key: `trigger:${phase?.name}:${trigger.name}`, trigger })),
  ];
}

/** One application of the machine to one event. */
class Run {
  private readonly commands: RolloutCommand[] = [];

  constructor(
    private readonly plan: Plan,
    private readonly s: RolloutState,
  ) {}

  /** The analysis interval: how often the rollout observes, re-checks providers and retries failed flag writes. */
  private get intervalMs(): number {
    return ms(this.plan.analysis.interval) ?? 30_000;
  }

  private get derived(): Derived {
    let d = derivedByPlan.get(this.plan);
    if (!d) {
      const all = this.computeAllConditions();
      d = {
        allConditions: all,
        anomalyMetrics: new Set(all.flatMap((c) => (c.kind === 'anomaly' ? [c.metric] : []))),
        flagReads: [...new Set(all.flatMap((c) => (c.kind === 'value' && c.from === 'flag' ? [c.name] : [])))].sort(),
        active: new Map(),
        metrics: new Map(),
        checks: new Map(),
      };
      derivedByPlan.set(this.plan, d);
    }
    return d;
  }

  private get phase(): PhaseDef | undefined {
    return this.plan.phases[this.s.phaseIndex];
  }

  handle(event: RolloutEvent): RolloutCommand[] {
    const s = this.s;
    if ('id' in event) {
      if (s.processedIds.includes(event.id)) return [];
      s.processedIds.push(event.id);
      if (s.processedIds.length > MAX_PROCESSED_IDS) s.processedIds.splice(0, s.processedIds.length - MAX_PROCESSED_IDS);
    }
    s.now = Math.max(s.now, event.at);
    if ((event.type === 'observation' || event.type === 'check-result') && s.readingsPending) s.readingsPending = s.readingsPending - 1 || undefined;
    switch (event.type) {
      case 'message-refused': {
        // A flood of junk must not grow the ops log (and the state carried through continue-as-new) without bound:
        // the first 100 are logged one by one, then every 100th with the count.
        const count = (s.malformedMessages = (s.malformedMessages ?? 0) + 1);
        if (!s.trustV2 || count <= MALFORMED_LOGGED || count % MALFORMED_LOGGED === 0) {
          this.log('refuse', `${event.message} refused: ${event.reason}${count > MALFORMED_LOGGED ? ` (${count} malformed messages so far; past ${MALFORMED_LOGGED}, every ${MALFORMED_LOGGED}th is logged)` : ''}`);
        }
        return this.commands;
      }
      case 'notification-failed':
        this.log('notification-failed', `notification ${event.event} to channel ${event.channel} failed: ${event.detail}`);
        return this.commands;
      case 'flag-lock-refused':
        if (!isFinished(s)) {
          this.log('refuse', `rollout refused: flag ${event.flag} is driven by rollout ${event.holder}; one rollout per flag — wait for it to finish or stop it first`);
          this.finish('aborted', `flag ${event.flag} is driven by rollout ${event.holder}`);
        }
        return this.commands;
    }
    if (isFinished(s)) {
      if ('id' in event) this.log('refuse', `${describeEvent(event)} refused: the rollout already finished (${s.outcome})`, actorOf(event));
      if (event.type === 'flag-write-failed') this.flagWriteFailed(event);
      if (event.type === 'flag-write-retried') this.flagWriteRetried(event);
      if (event.type === 'tick') this.retryFlagWrites();
      if (event.type === 'flag-write-failed' || event.type === 'flag-write-retried' || event.type === 'tick') this.schedule();
      return this.commands;
    }
    if ('id' in event) {
      const why = this.refusal(event);
      if (why) {
        this.log('refuse', `${describeEvent(event)} refused: ${why}`, actorOf(event));
        return this.commands;
      }
    }

    switch (event.type) {
      case 'start':
        this.start();
        break;
      case 'tick':
        this.tick();
        break;
      case 'observation':
        this.observe(event);
        break;
      case 'approval':
        this.approval(event);
        break;
      case 'attestation':
        s.attestations[event.check] = { by: event.by, at: event.at };
        this.log('attest', `${event.check} attested by ${event.by}${event.note ? `: ${event.note}` : ''}`, event.by);
        break;
      case 'report-value':
        s.reported[event.name] = event.value;
        this.log('report', `${event.name} = ${String(event.value)} reported by ${event.by}`, event.by);
        break;
      case 'consume-token':
        s.tokensConsumed[event.token] = { by: event.by, at: event.at };
        this.log('consume-token', `token ${event.token} consumed by ${event.by} (${event.role}); its conditions all hold`, event.by);
        this.notify('token-consumed', `Token ${event.token} consumed by ${event.by}`);
        break;
      case 'incident':
        this.incident(event);
        break;
      case 'alert':
        if (event.status === 'firing') s.alerts[`${event.alert}|${event.id}`] = { labels: event.labels ?? {}, since: event.at };
        else for (const key of Object.keys(s.alerts)) if (key.startsWith(`${event.alert}|`)) delete s.alerts[key];
        this.log('incident', `alert ${event.alert} ${event.status}`);
        break;
      case 'spend':
        s.spend[event.budget] = event.total;
        break;
      case 'operator':
        this.operator(event);
        break;
      case 'task-result':
        this.taskResult(event);
        break;
      case 'check-result':
        s.checkResults[event.check] = { at: event.at, ok: event.ok, detail: event.detail };
        break;
      case 'flag-write-failed':
        this.flagWriteFailed(event);
        break;
      case 'flag-write-retried':
        this.flagWriteRetried(event);
        break;
      case 'providers-checked':
        this.providersChecked(event.offline);
        break;
    }

    if (event.type !== 'observation' && event.type !== 'tick') this.evaluateEventTriggers();
    // Decide on the newest readings: while readings asked for at this instant (an observation, check runs) are still
    // to come, moving forward waits for them; each comes back stamped with the same instant.
    const asked = () => this.commands.reduce((n, c) => (c.type === 'observe' || c.type === 'run-check' ? n + 1 : n), 0);
    if (!s.trustV2 || (s.readingsPending ?? 0) + asked() === 0) this.progress();
    this.schedule();
    if (s.trustV2) s.readingsPending = (s.readingsPending ?? 0) + asked() || undefined;
    return this.commands;
  }

  // --- validation -----------------------------------------------------------------------------------------------

  refusal(event: MessageEvent): string | undefined {
    const { plan, s } = this;
    if (isFinished(s)) return `the rollout already finished (${s.outcome})`;
    switch (event.type) {
      case 'approval': {
        const role = plan.roles[event.role];
        if (!role) return `unknown role "${event.role}"; this plan's roles are ${Object.keys(plan.roles).join(', ') || 'none'}`;
        if (!role.members.includes(event.by)) return `${event.by} does not hold the role ${event.role}`;
        const subject = event.subject ?? this.pendingSubjectFor(event.role);
        if (!subject) return `nothing from here on waits for an approval by ${event.role}`;
        if (subject.startsWith('phase:')) {
          const name = subject.slice('phase:'.length);
          const index = plan.phases.findIndex((p) => p.name === name);
          if (index < 0) return `unknown phase "${name}"`;
          if (index < this.s.phaseIndex) return `wrong phase: phase ${name} is already past (the rollout is in ${phaseName(plan, s.phaseIndex)})`;
          const requirement = plan.phases[index]?.approvals?.find((a) => a.role === event.role);
          if (!requirement) return `phase ${name} needs no approval by ${event.role}`;
          // Only what the rollout is waiting for can be approved: entering the next phase, or leaving this one.
          const waiting = (index === s.phaseIndex + 1 && requirement.at === 'enter') || (index === s.phaseIndex && requirement.at === 'exit');
          if (s.trustV2 && !waiting) {
            if (index <= s.phaseIndex) return `nothing waits for this approval: phase ${name} was already entered${requirement.at === 'exit' ? '' : ' (its approval was needed to enter it)'}`;
            return `nothing waits for this approval yet: phase ${name} comes after ${phaseName(plan, s.phaseIndex + 1)}; approve it once the rollout waits for it`;
          }
          if ((requirement.signatureRequired ?? role.signatureRequired) && !event.verified) {
            return `an approval by ${event.role} must carry a valid signature${event.signatureProblem ? `: ${event.signatureProblem}` : ''}`;
          }
        } else if (role.signatureRequired && !event.verified) {
          return `an approval by ${event.role} must carry a valid signature${event.signatureProblem ? `: ${event.signatureProblem}` : ''}`;
        }
        if (subject === 'hold' && (!s.hold || (s.hold.decidedBy && !s.hold.decidedBy.includes(event.role)))) {
          return s.hold ? `the hold is decided by ${s.hold.decidedBy?.join(' or ')}, not ${event.role}` : 'nothing is on hold';
        }
        return undefined;
      }
      case 'consume-token': {
        const token = plan.tokens.find((t) => t.id === event.token);
        if (!token) return `unknown token "${event.token}"`;
        if (s.tokensConsumed[token.id]) return `token ${token.id} was already consumed by ${s.tokensConsumed[token.id]?.by}`;
        if (event.role !== token.role) return `token ${token.id} must be consumed by the ${token.role} role, not ${event.role}`;
        if (!plan.roles[token.role]?.members.includes(event.by)) return `${event.by} does not hold the role ${token.role}`;
        if (plan.roles[token.role]?.signatureRequired && !event.verified) return `consuming ${token.id} needs a valid ${token.role} signature${event.signatureProblem ? `: ${event.signatureProblem}` : ''}`;
        const unmet = this.unmetChecks(token.requires);
        if (unmet.length > 0) return `its conditions do not hold: ${unmet.map(describeUnmet).join('; ')} — HOLD`;
        return undefined;
      }
      case 'attestation': {
        const cond = this.allConditions().find((c) => c.kind === 'attestation' && c.check === event.check);
        if (!cond || cond.kind !== 'attestation') return `no check "${event.check}" in this plan takes an attestation`;
        if (cond.role && !plan.roles[cond.role]?.members.includes(event.by)) return `${event.check} must be attested by the ${cond.role} role`;
        return undefined;
      }
      case 'report-value': {
        const known = this.allConditions().some((c) => c.kind === 'value' && c.from === 'reported' && c.name === event.name);
        return known ? undefined : `no condition in this plan reads a reported value "${event.name}"`;
      }
      case 'operator':
        return this.operatorRefusal(event);
      case 'spend':
        return plan.budgets.some((b) => b.name === event.budget) ? undefined : `unknown budget "${event.budget}"`;
      default:
        return undefined;
    }
  }

  private operatorRefusal(event: Extract<RolloutEvent, { type: 'operator' }>): string | undefined {
    const { plan, s } = this;
    const denied = this.operatorAuthority(event);
    if (denied) return denied;
    // A hold that names who decides binds every way out of it toward more traffic; the ways toward safety stay open.
    const decidedBy = s.hold?.decidedBy;
    if (s.trustV2 && decidedBy?.length && (event.command === 'resume' || event.command === 'promote' || event.command === 'force-promote') && !(event.role && decidedBy.includes(event.role))) {
      return `the hold (${s.hold?.reason}) is decided by ${decidedBy.join(' or ')}; ${event.command} needs that role, or roll back`;
    }
    switch (event.command) {
      case 'resume':
        return s.status === 'paused' || s.status === 'holding' ? undefined : `there is nothing to resume: the rollout is ${s.status}`;
      case 'pause':
        return s.status === 'paused' ? 'the rollout is already paused' : undefined;
      case 'promote':
        if (s.status === 'rolling-back') return 'the rollout is rolling back';
        return s.phaseIndex >= plan.phases.length - 1 ? 'the rollout is already in its last phase' : undefined;
      case 'force-promote': {
        if (!event.reason) return 'promote --force needs a reason';
        if (s.status === 'rolling-back') return 'the rollout is rolling back';
        return s.phaseIndex >= plan.phases.length - 1 ? 'the rollout is already at its last phase' : undefined;
      }
      case 'abort':
      case 'rollback':
        if (!event.reason) return `${event.command} needs a reason`;
        return s.status === 'rolling-back' ? 'the rollout is already rolling back' : undefined;
      case 'kill':
        return undefined;
    }
  }

  /**
   * Whether the sender may give this operator command at all, by authority only: the roles the plan grants for it
   * (`controls.operators` for every command, `controls.safety` for the commands that move toward safety — pause,
   * rollback, abort, kill — and `controls.forcePromote` alone for promote --force, which is off without it), and the
   * sender must hold the role it claims. A plan that grants no operator roles is steered by its owner only.
   */
  private operatorAuthority(event: Extract<RolloutEvent, { type: 'operator' }>): string | undefined {
    const { plan } = this;
    const { controls } = plan;
    const command = event.command === 'force-promote' ? 'promote --force' : event.command;
    if (event.command === 'force-promote' && !controls.forcePromote) return 'promote --force is off for this plan (controls.forcePromote grants it to roles)';
    const roles = grantedOperatorRoles(plan, event.command);
    if (roles.length === 0) {
      if (plan.owner && event.by === plan.owner) return undefined;
      return `${command} needs the plan owner${plan.owner ? ` (${plan.owner})` : ''}: this plan grants no operator role for it (controls.operators${SAFETY_COMMANDS.includes(event.command) ? ' or controls.safety' : ''})`;
    }
    if (!event.role) return `${command} needs one of the roles ${roles.join(', ')}; the command named no role`;
    if (!roles.includes(event.role)) return `${command} needs one of the roles ${roles.join(', ')}, not ${event.role}`;
    if (!plan.roles[event.role]?.members.includes(event.by)) return `${event.by} does not hold the role ${event.role}`;
    return undefined;
  }

  /** Which approval subject an approval by `role` without an explicit subject is for. */
  private pendingSubjectFor(role: string): string | undefined {
    const { plan, s } = this;
    if (s.hold?.decidedBy?.includes(role)) return 'hold';
    for (const b of plan.budgets) {
      if (b.cosign?.role === role && (s.spend[b.name] ?? 0) > (b.cosign.above ?? b.limit)) return `budget:${b.name}`;
    }
    for (let i = Math.max(0, s.phaseIndex); i < plan.phases.length; i++) {
      const p = plan.phases[i];
      const wanted = p?.approvals?.find((a) => a.role === role && (i > s.phaseIndex || a.at === 'exit'));
      if (p && wanted) return `phase:${p.name}`;
    }
    if (this.allConditions().some((c) => c.kind === 'approval' && c.role === role)) return `check:${role}`;
    return undefined;
  }

  // --- events ---------------------------------------------------------------------------------------------------

  private start(): void {
    const { plan, s } = this;
    s.status = 'waiting';
    this.log('start', `rollout of ${plan.target.flags.join(', ')} in ${plan.target.environment} started: ${plan.phases.length} phases, ${plan.phases.map((p) => `${p.percent}%`).join(' → ')}`);
    this.notify('started', `Rollout ${plan.name} started`);
    // Every provider the plan uses must answer before any traffic moves.
    this.commands.push({ type: 'check-providers' });
    // Establish baselines before any traffic moves.
    const metrics = this.metricsFor(this.allConditions());
    if (metrics.length > 0) this.emitObserve(metrics);
    this.runChecks(plan.preconditions);
  }

  /** Before the first phase: offline providers keep the rollout at 0% (checked again every interval) and are named. */
  private providersChecked(offline: string[]): void {
    const s = this.s;
    const before = s.providersOffline;
    s.providersOffline = offline;
    if (s.phaseIndex >= 0) return;
    if (offline.length > 0 && before?.join('\n') !== offline.join('\n')) {
      this.log('wait', `not starting: ${offline.join('; ')} — checked again every ${this.plan.analysis.interval}; traffic stays at 0%`);
    } else if (offline.length === 0 && before?.length) {
      this.log('wait', `providers answer again (${before.length} were offline); the rollout may start`);
    }
  }

  /** The pending write that `event` reports on: the same flags to the same state. */
  private pendingWrite(event: { flags: string[]; percent: number; enabled: boolean }) {
    return this.s.pendingFlagWrites?.find((w) => w.flags.join() === event.flags.join() && w.percent === event.percent && w.enabled === event.enabled);
  }

  /**
   * A flag write failed for good: it is retried on every tick until it goes through, and the rollout does not move
   * forward meanwhile. A failed write while rolling back or killing is the urgent case — traffic stays on the canary.
   */
  private flagWriteFailed(event: Extract<RolloutEvent, { type: 'flag-write-failed' }>): void {
    const s = this.s;
    const same = this.pendingWrite(event);
    if (same) {
      same.failures += 1;
      return;
    }
    (s.pendingFlagWrites ??= []).push({ flags: event.flags, percent: event.percent, enabled: event.enabled, reason: event.reason, since: event.at, failures: 1 });
    const target = describeWrite(event);
    const urgent = !event.enabled || s.status === 'rolling-back' || (isFinished(s) && s.outcome !== 'completed');
    const why = `flag write failed (${target}, for ${event.reason}): ${event.detail}; retried every ${this.plan.analysis.interval}${urgent ? ' — traffic may still reach the canary' : ', and the rollout does not advance until it succeeds'}`;
    this.log('flag-write-failed', why, undefined, true);
    this.notify('flag-write-failed', `${urgent ? 'URGENT: ' : ''}${why}`);
  }

  private flagWriteRetried(event: Extract<RolloutEvent, { type: 'flag-write-retried' }>): void {
    const s = this.s;
    const w = this.pendingWrite(event);
    if (!w) return;
    s.pendingFlagWrites = s.pendingFlagWrites?.filter((x) => x !== w);
    if (!s.pendingFlagWrites?.length) s.pendingFlagWrites = undefined;
    const failures = `${w.failures} failure${w.failures === 1 ? '' : 's'}`;
    const phase = this.phase;
    // The phase's traffic goes live only now: its minimum duration and its gates count from here, not from the
    // decision to enter it, so a flag store that was down never shortens the time the canary really served.
    const live = s.trustV2 && phase !== undefined && !isFinished(s) && w.enabled && w.percent === s.percent && this.plan.target.flags.every((f) => w.flags.includes(f));
    if (live) {
      s.phaseEnteredAt = s.now;
      for (const { key } of gatesOf(this.plan, phase)) delete s.tracks[key];
    }
    const restart = live ? `; ${phase.name} counts from now (its minimum duration and gates start again)` : '';
    this.log('flag-write-retried', `flag write ${describeWrite(w)} went through on retry after ${failures} (${formatDuration(s.now - w.since)})${restart}`, undefined, true);
  }

  /** Retries failed flag writes, oldest first; each comes back as a failure or a success event. */
  private retryFlagWrites(): void {
    for (const w of this.s.pendingFlagWrites ?? []) {
      this.commands.push({ type: 'set-flags', flags: w.flags, percent: w.percent, enabled: w.enabled, reason: `retry of ${w.reason}`, retry: true });
    }
  }

  private tick(): void {
    const s = this.s;
    this.retryFlagWrites();
    if (s.phaseIndex < 0 && s.providersOffline?.length !== 0) this.commands.push({ type: 'check-providers' });
    if (s.nextObservationAt !== undefined && s.now >= s.nextObservationAt) {
      const position = `${s.phaseIndex}|${s.stage}|${s.status === 'rolling-back'}`;
      let metrics = this.derived.metrics.get(position);
      if (!metrics) this.derived.metrics.set(position, (metrics = this.metricsFor(this.activeMetricConditions().map((a) => a.cond))));
      if (metrics.length > 0 || this.flagReads().length > 0) this.emitObserve(metrics);
      else s.nextObservationAt = undefined;
    }
    this.runDueTasks();
  }

  private emitObserve(metrics: string[]): void {
    const interval = this.intervalMs;
    // Stay on the grid the first observation set: a tick that arrives a little late does not shift the ones after it.
    const due = this.s.nextObservationAt;
    this.s.nextObservationAt = due !== undefined && this.s.now >= due && this.s.now - due < interval ? due + interval : this.s.now + interval;
    this.commands.push({ type: 'observe', metrics, flags: this.flagReads() });
    this.runActiveChecks();
  }

  /**
   * HTTP and command conditions in the gates, entry checks and triggers in force are re-run once their last result
   * is older than five minutes (or the analysis interval, if longer): often enough to notice a change, rarely enough
   * that a smoke-test command is not run every 30 seconds.
   */
  private runActiveChecks(): void {
    const { plan, s } = this;
    const refreshMs = Math.max(CHECK_REFRESH_MS, ms(plan.analysis.interval) ?? 0);
    const phase = this.phase;
    let keys = this.derived.checks.get(s.phaseIndex);
    if (!keys) {
      const next = plan.phases[s.phaseIndex + 1];
      const conds = [
        ...(phase ? gatesOf(plan, phase).map((g) => g.check.when) : []),
        ...(next?.entry ?? []).map((c) => c.when),
        ...triggersOf(plan, phase).map((t) => t.trigger.when),
        // Preconditions gate the start only: once the first phase is entered they are not re-run.
        ...plan.checks.filter((c) => (s.phaseIndex < 0 && plan.preconditions.includes(c.name)) || phase?.until?.includes(c.name)).map((c) => c.when),
      ];
      keys = [...new Set(conds.flatMap((c) => (c.kind === 'http' || c.kind === 'command' ? [checkKey(c)] : [])))];
      this.derived.checks.set(s.phaseIndex, keys);
    }
    for (const key of keys) {
      const last = s.checkResults[key];
      if (last && s.now - last.at < refreshMs) continue;
      this.commands.push({ type: 'run-check', check: key, scope: phase?.name ?? 'before-start' });
    }
  }

  private observe(event: Extract<RolloutEvent, { type: 'observation' }>): void {
    const s = this.s;
    const at = event.at;
    let errors = 0;
    const beforeRollout = s.phaseIndex < 0 || (this.phase?.percent ?? 0) === 0;
    const anomaly = this.anomalyMetrics();
    for (const metric in event.metrics) {
      const r = event.metrics[metric] as MetricReading;
      if (r.status === 'error') errors++;
      if (r.status !== 'ok' || !Number.isFinite(r.value)) continue;
      // Updated in place: this runs for every metric on every tick.
      const latest = s.latest[metric];
      if (latest) {
        latest.value = r.value;
        latest.at = at;
        latest.samples = r.samples;
      } else s.latest[metric] = { value: r.value, at, samples: r.samples };
      if (anomaly.has(metric)) {
        const h = (s.history[metric] ??= []);
        h.push([at, r.value]);
        // Trimmed in batches, not one sample per tick: anomaly conditions read only their lookback anyway.
        if (h.length > MAX_HISTORY + MAX_HISTORY / 4) h.splice(0, h.length - MAX_HISTORY);
      }
      if (r.value > 0) s.lastEventAt[metric] = at;
      if (beforeRollout) {
        const key = beforeRolloutKey(metric);
        if (s.baselines[key] === undefined) s.baselines[key] = r.value;
      }
    }
    Object.assign(s.flagValues, event.flags ?? {});
    s.consecutiveSourceErrors = errors > 0 ? s.consecutiveSourceErrors + 1 : 0;

    // Fold this observation into every active metric condition.
    const ctx: EvalContext = { plan: this.plan, state: s, now: s.now, readings: event.metrics, phaseStart: s.phaseEnteredAt };
    for (const { key, cond, polarity } of this.activeMetricConditions()) {
      const track = (s.tracks[key] ??= newTrack());
      // A condition with an interval of its own is judged at that cadence, not at every observation.
      const every = s.trustV2 && 'interval' in cond ? ms(cond.interval) : undefined;
      if (every !== undefined && track.lastEvaluatedAt !== undefined && at - track.lastEvaluatedAt < every) continue;
      const verdict = evaluateCondition(cond, ctx);
      updateTrack(track, cond, verdict.result, verdict.detail, at, polarity, { openWindowCounts: s.trustV2 });
    }
    if (errors > 0) this.sourceErrors(event);
    this.circuitBreaker(ctx);
    this.evaluateTriggers(event.metrics);
    this.inconclusiveLimits();
    if (s.status === 'rolling-back') this.verifyRollback();
  }

  private approval(event: Extract<RolloutEvent, { type: 'approval' }>): void {
    const { s } = this;
    const subject = event.subject ?? this.pendingSubjectFor(event.role) ?? 'unknown';
    s.approvals.push({
      id: event.id,
      role: event.role,
      by: event.by,
      subject,
      decision: event.decision,
      at: event.at,
      reason: event.reason,
      verified: event.verified ?? false,
    });
    const what = subject === 'hold' ? 'the hold' : subject.replace(/^phase:/, 'phase ').replace(/^budget:/, 'budget ');
    const signed = event.verified ? ' (signature verified)' : '';
    this.log(event.decision === 'approve' ? 'approve' : 'reject', `${event.role} ${event.by} ${event.decision === 'approve' ? 'approved' : 'rejected'} ${what}${signed}${event.reason ? `: ${event.reason}` : ''}`, event.by);
    this.notify('approval-received', `${event.role} ${event.by} ${event.decision}d ${what}`);
    // A decision on the hold itself, or the co-sign a budget hold waits for.
    if (subject === 'hold' || (s.hold !== undefined && s.hold.cause === subject)) {
      if (event.decision === 'approve') this.resume(`${event.role} ${event.by} decided to resume${event.reason ? `: ${event.reason}` : ''}`, event.by);
      else this.startRollback(`${event.role} ${event.by} decided to roll back${event.reason ? `: ${event.reason}` : ''}`, 'rolled_back', event.by);
    }
  }

  private incident(event: Extract<RolloutEvent, { type: 'incident' }>): void {
    const s = this.s;
    const existing = s.incidents.find((i) => i.id === event.id);
    if (existing) existing.status = event.status ?? existing.status;
    else s.incidents.push({ id: event.id, severity: event.severity, title: event.title, at: event.at, status: event.status ?? 'open' });
    this.log('incident', `incident ${event.severity}: ${event.title}${event.status === 'resolved' ? ' (resolved)' : ''}`);
  }

  private operator(event: Extract<RolloutEvent, { type: 'operator' }>): void {
    const s = this.s;
    const who = `${event.by}${event.role ? ` (${event.role})` : ''}`;
    const why = event.reason ? `: ${event.reason}` : '';
    switch (event.command) {
      case 'pause':
        s.pause = { by: event.by, reason: event.reason ?? 'paused by operator', since: s.now };
        this.setStatus('paused');
        this.log('pause', `paused by ${who}${why}`, event.by);
        this.notify('paused', `Rollout paused by ${who}${why}`);
        break;
      case 'resume':
        this.resume(`resumed by ${who}${why}`, event.by);
        break;
      case 'abort':
        this.startRollback(`aborted by ${who}${why}`, 'aborted', event.by);
        break;
      case 'rollback':
        this.startRollback(`rollback requested by ${who}${why}`, 'rolled_back', event.by);
        break;
      case 'promote':
        this.log('promote', `promoted by ${who}${why}: the minimum duration and gates of ${phaseName(this.plan, s.phaseIndex)} are waived`, event.by);
        this.enterNext({ promotedBy: who });
        break;
      case 'force-promote':
        this.log('force-promote', `promote --force by ${who}${why}: skipping to ${this.plan.phases[this.plan.phases.length - 1]?.percent}%, bypassing gates and approvals`, event.by);
        this.forcePromote(who);
        break;
      case 'kill':
        this.kill(`kill switch by ${who}${why}`, event.by);
        break;
    }
  }

  private taskResult(event: Extract<RolloutEvent, { type: 'task-result' }>): void {
    const s = this.s;
    const key = `${event.scope}:${event.task}`;
    s.taskRuns[key] = { at: s.taskRuns[key]?.at ?? event.at, ok: event.ok, detail: event.detail };
    this.log('task', `task ${event.task} ${event.ok ? 'succeeded' : 'failed'}${event.detail ? `: ${event.detail}` : ''}`, event.by);
    if (!event.ok) this.notify('task-failed', `Task ${event.task} failed${event.detail ? `: ${event.detail}` : ''}`);
    if (event.scope === 'refreeze') this.continueRefreeze();
  }

  // --- conditions -----------------------------------------------------------------------------------------------

  private evaluate(cond: ConditionDef, readings?: Record<string, MetricReading>): Verdict {
    return evaluateCondition(cond, { plan: this.plan, state: this.s, now: this.s.now, readings, phaseStart: this.s.phaseEnteredAt });
  }

  /** Every condition in the plan (for validation of messages and the baseline observation). */
  private allConditions(): ConditionDef[] {
    return this.derived.allConditions;
  }

  private computeAllConditions(): ConditionDef[] {
    const { plan } = this;
    const checks = (list: CheckDef[] | undefined) => (list ?? []).map((c) => c.when);
    return [
      ...checks(plan.checks),
      ...checks(plan.gates),
      ...plan.triggers.map((t) => t.when),
      ...plan.phases.flatMap((p) => [...checks(p.entry), ...checks(p.gates), ...(p.triggers ?? []).map((t) => t.when)]),
      ...checks(plan.rollback.verify?.checks),
      ...checks(plan.afterFull?.stabilization?.gates),
      ...checks(plan.afterFull?.successCriteria?.checks),
    ];
  }

  /** Metric-reading conditions that are evaluated on each observation right now, with their track keys. */
  private activeMetricConditions(): Array<{ key: string; cond: ConditionDef; polarity: Polarity }> {
    // Depends only on where the rollout is: cache by that position.
    const s = this.s;
    const position = `${s.phaseIndex}|${s.stage}|${s.status === 'rolling-back'}`;
    let list = this.derived.active.get(position);
    if (!list) this.derived.active.set(position, (list = this.computeActiveMetricConditions()));
    return list;
  }

  private computeActiveMetricConditions(): Array<{ key: string; cond: ConditionDef; polarity: Polarity }> {
    const { plan, s } = this;
    const out: Array<{ key: string; cond: ConditionDef; polarity: Polarity }> = [];
    const add = (key: string, cond: ConditionDef, polarity: Polarity) => {
      if (metricsOf(cond).length > 0 || cond.kind === 'freshness' || cond.kind === 'absence') out.push({ key, cond, polarity });
    };
    if (s.status === 'rolling-back') {
      for (const c of plan.rollback.verify?.checks ?? []) add(`verify:${c.name}`, c.when, 'gate');
      return out;
    }
    const phase = this.phase;
    for (const { key, trigger } of triggersOf(plan, phase)) add(key, trigger.when, 'trigger');
    // The circuit breaker's condition is read at every evaluation while traffic reaches the canary.
    const breaker = plan.controls.circuitBreaker?.when;
    if (breaker && phase) add('circuit-breaker', breaker, 'trigger');
    if (phase && s.stage === 'ramp') for (const { key, check } of gatesOf(plan, phase)) add(key, check.when, 'gate');
    if (phase && s.stage === 'final') for (const { key, check } of gatesOf(plan, phase)) add(key, check.when, 'gate');
    const next = plan.phases[s.phaseIndex + 1];
    if (next && s.stage === 'ramp') for (const c of next.entry ?? []) add(`entry:${next.name}:${c.name}`, c.when, 'gate');
    if (s.phaseIndex < 0) for (const name of plan.preconditions) {
      const c = plan.checks.find((x) => x.name === name);
      if (c) add(`check:${c.name}`, c.when, 'gate');
    }
    if (s.stage === 'stabilization') for (const c of plan.afterFull?.stabilization?.gates ?? []) add(`stabilization:${c.name}`, c.when, 'gate');
    if (s.stage === 'success-criteria') for (const c of plan.afterFull?.successCriteria?.checks ?? []) add(`success:${c.name}`, c.when, 'gate');
    for (const b of plan.budgets) {
      if (b.spend && phase && b.phases.includes(phase.name)) {
        out.push({ key: `spend:${b.name}`, cond: { kind: 'threshold', metric: b.spend.metric, op: '>=', value: 0 }, polarity: 'gate' });
      }
    }
    return out;
  }

  private metricsFor(conds: ConditionDef[]): string[] {
    const set = new Set<string>();
    for (const c of conds) for (const m of metricsOf(c)) set.add(m);
    for (const b of this.plan.budgets) if (b.spend) set.add(b.spend.metric);
    for (const t of this.phase?.tasks ?? []) if (t.run.type === 'snapshot') (t.run.metrics ?? []).forEach((m) => set.add(m));
    return [...set].sort();
  }

  private flagReads(): string[] {
    return this.derived.flagReads;
  }

  private anomalyMetrics(): Set<string> {
    return this.derived.anomalyMetrics;
  }

  /** Satisfied now? Metric conditions use their track; others are evaluated on the spot. */
  private holds(key: string, cond: ConditionDef): { ok: boolean; detail: string } {
    if (metricsOf(cond).length > 0 || cond.kind === 'freshness' || cond.kind === 'absence') {
      const track = this.s.tracks[key];
      return { ok: track?.satisfied ?? false, detail: track?.detail ?? `${describeKey(key)}: not evaluated yet` };
    }
    const verdict = this.evaluate(cond);
    return { ok: verdict.result === 'true', detail: verdict.detail };
  }

  private unmetChecks(names: string[]): UnmetCheck[] {
    const unmet: UnmetCheck[] = [];
    for (const name of names) {
      const c = this.plan.checks.find((x) => x.name === name);
      if (!c) continue;
      const h = this.holds(`check:${c.name}`, c.when);
      if (!h.ok) unmet.push({ check: c.name, detail: h.detail });
    }
    return unmet;
  }

  private runChecks(names: string[]): void {
    for (const name of names) {
      const c = this.plan.checks.find((x) => x.name === name);
      if (c && (c.when.kind === 'http' || c.when.kind === 'command')) {
        this.commands.push({ type: 'run-check', check: checkKey(c.when), scope: `check:${c.name}` });
      }
    }
  }

  // --- triggers -------------------------------------------------------------------------------------------------

  /** Non-metric triggers (incidents, alerts, values) are evaluated on every event. */
  private evaluateEventTriggers(): void {
    this.fireTriggers(
      triggersOf(this.plan, this.phase).filter(({ trigger }) => metricsOf(trigger.when).length === 0 && !['freshness', 'absence'].includes(trigger.when.kind)),
      undefined,
    );
  }

  private evaluateTriggers(readings: Record<string, MetricReading>): void {
    this.fireTriggers(triggersOf(this.plan, this.phase), readings);
  }

  private fireTriggers(list: Array<{ key: string; trigger: TriggerDef }>, readings: Record<string, MetricReading> | undefined): void {
    const s = this.s;
    if (s.status === 'rolling-back' || s.phaseIndex < 0) return;
    const fired: Array<{ key: string; trigger: TriggerDef; detail: string }> = [];
    for (const { key, trigger } of list) {
      const track = (s.tracks[key] ??= newTrack());
      const isMetric = metricsOf(trigger.when).length > 0 || trigger.when.kind === 'freshness' || trigger.when.kind === 'absence';
      if (!isMetric) {
        const v = this.evaluate(trigger.when, readings);
        updateTrack(track, trigger.when, v.result, v.detail, s.now, 'trigger', { openWindowCounts: s.trustV2 });
      }
      if (track.satisfied && !track.latched) {
        track.latched = true;
        fired.push({ key, trigger, detail: track.detail ?? '' });
      } else if (!track.satisfied && track.latched && track.trueSince === undefined) {
        track.latched = false;
      }
    }
    fired.sort((a, b) => SEVERITY[b.trigger.action] - SEVERITY[a.trigger.action]);
    for (const f of fired) {
      if (isFinished(s) || (s.status as RolloutStatus) === 'rolling-back') break;
      this.triggerAction(f.trigger, f.detail);
    }
  }

  private triggerAction(trigger: TriggerDef, detail: string): void {
    const reason = `trigger ${trigger.name} fired: ${detail}${trigger.source ? ` [${trigger.source}]` : ''}`;
    this.notify('trigger-fired', reason, trigger.notify);
    // The trigger's runbook starts with it (manual steps are assigned, commands run, messages sent).
    for (const t of trigger.tasks ?? []) this.runTask(t, `trigger:${trigger.name}`);
    switch (trigger.action) {
      case 'alert':
        this.log('alert', reason);
        break;
      case 'pause':
        this.s.pause = { by: 'system', reason, since: this.s.now };
        this.setStatus('paused');
        this.log('pause', reason);
        this.notify('paused', reason);
        break;
      case 'hold':
        this.hold(reason, trigger.name, trigger.hold);
        break;
      case 'revert-phase':
        this.revertPhase(reason);
        break;
      case 'rollback':
        this.startRollback(reason, 'rolled_back');
        break;
      case 'abort':
        this.startRollback(reason, 'aborted');
        break;
      case 'kill':
        this.kill(reason);
        break;
    }
  }

  private sourceErrors(event: Extract<RolloutEvent, { type: 'observation' }>): void {
    const { plan, s } = this;
    const failing = Object.entries(event.metrics).filter(([, r]) => r.status === 'error').map(([m, r]) => `${m} (${r.status === 'error' ? r.detail : ''})`);
    const breaker = plan.controls.circuitBreaker;
    if (breaker && s.consecutiveSourceErrors === breaker.consecutiveErrors) {
      this.actionFromRule(breaker.action, `circuit breaker: ${s.consecutiveSourceErrors} consecutive metric source errors: ${failing.join(', ')}`, 'circuit-breaker');
    } else if (s.consecutiveSourceErrors === plan.analysis.consecutiveErrorLimit) {
      this.actionFromRule(plan.analysis.onError, `${s.consecutiveSourceErrors} consecutive metric source errors: ${failing.join(', ')}; a source failure never counts as a pass`, 'source-errors');
    }
  }

  /**
   * The circuit breaker on the canary's own errors (seed 001: "auto-disable on 3 consecutive errors"): each evaluation
   * where `controls.circuitBreaker.when` holds counts, one where it does not resets the count, one without data
   * neither; at `consecutiveErrors` the breaker's action is taken. Metric-source errors count separately.
   */
  private circuitBreaker(ctx: EvalContext): void {
    const { plan, s } = this;
    const breaker = plan.controls.circuitBreaker;
    if (!breaker?.when || s.phaseIndex < 0 || isFinished(s) || s.status === 'rolling-back') return;
    const verdict = evaluateCondition(breaker.when, ctx);
    if (verdict.result === 'true') s.breakerErrors = (s.breakerErrors ?? 0) + 1;
    else if (verdict.result === 'false') s.breakerErrors = undefined;
    if (s.breakerErrors === breaker.consecutiveErrors) {
      this.actionFromRule(breaker.action, `circuit breaker: ${s.breakerErrors} consecutive evaluations in error: ${verdict.detail}`, 'circuit-breaker');
    }
  }

  private inconclusiveLimits(): void {
    const { plan, s } = this;
    const limit = ms(plan.analysis.inconclusiveLimit) ?? Infinity;
    // With no canary traffic, canary metrics have no data by design: that is not a reason to hold.
    if (s.percent === 0) return;
    for (const { key } of this.activeMetricConditions()) {
      const track = s.tracks[key];
      if (!track?.inconclusiveSince || track.inconclusiveReported || s.now - track.inconclusiveSince <= limit) continue;
      track.inconclusiveReported = true;
      if (isFinished(s) || s.status === 'rolling-back') return;
      this.actionFromRule(plan.analysis.onInconclusive, `${describeKey(key)} has had no usable data for ${formatDuration(s.now - track.inconclusiveSince)} (limit ${plan.analysis.inconclusiveLimit}): ${track.detail}`, 'inconclusive');
    }
  }

  private actionFromRule(action: TriggerDef['action'], reason: string, cause: string): void {
    if (action === 'hold') this.hold(reason, cause, undefined);
    else this.triggerAction({ name: cause, when: { kind: 'alert', alert: cause }, action }, reason);
  }

  // --- progression ----------------------------------------------------------------------------------------------

  /** Moves the rollout forward as far as the current facts allow. */
  private progress(): void {
    const { s } = this;
    for (let guard = 0; guard < this.plan.phases.length + 8; guard++) {
      if (isFinished(s)) return;
      if (s.status === 'rolling-back') {
        this.checkRollbackDeadline();
        return;
      }
      if (s.hold?.deadline !== undefined && s.now >= s.hold.deadline) {
        this.holdTimeout();
        continue;
      }
      if (s.status === 'paused' || s.status === 'holding') {
        this.setWaiting([this.stoppedBecause()]);
        return;
      }
      if (s.pendingFlagWrites?.length) {
        this.setWaiting(s.pendingFlagWrites.map((w) => ({ kind: 'flag-write', flags: w.flags, percent: w.percent, enabled: w.enabled, failures: w.failures, since: w.since })));
        return;
      }
      this.budgetHolds();
      if ((s.status as RolloutStatus) === 'holding') return;
      if (s.stage === 'ramp') {
        if (s.phaseIndex >= 0 && !this.phaseDone()) return;
        if (!this.enterNext({})) return;
      } else if (!this.afterFull()) return;
    }
  }

  /** What a paused or held rollout waits for: `canary resume`, or a decision on the hold by whoever decides it. */
  private stoppedBecause(): Wait {
    const { s } = this;
    if (s.status === 'paused') return { kind: 'paused', by: s.pause?.by ?? 'someone', reason: s.pause?.reason ?? '', since: s.pause?.since ?? s.now };
    const hold = s.hold;
    return {
      kind: 'hold',
      cause: hold?.cause ?? 'unknown',
      reason: hold?.reason ?? '',
      since: hold?.since ?? s.now,
      ...(hold?.decidedBy ? { decidedBy: hold.decidedBy } : {}),
      ...(hold?.deadline !== undefined ? { deadline: hold.deadline } : {}),
      default: hold?.default ?? 'stay',
    };
  }

  /** Whether the current phase may be left; records what it still waits for. */
  private phaseDone(): boolean {
    const { plan, s } = this;
    const phase = this.phase;
    if (!phase) return true;
    const waiting: Wait[] = [];
    const elapsed = s.now - s.phaseEnteredAt;
    const minMs = ms(phase.minDuration) ?? 0;
    const eod = phase.calendar?.endOfDay;
    const eodReached = eod !== undefined && endOfDayReached(s.phaseEnteredAt, s.now, eod, phase.calendar?.timezone ?? 'UTC');
    if (elapsed < minMs && !eodReached) {
      waiting.push({ kind: 'minimum', phase: phase.name, duration: phase.minDuration ?? '0', endsAt: s.phaseEnteredAt + minMs, left: minMs - elapsed, ...(eod ? { endOfDay: eod } : {}) });
    }
    for (const name of phase.until ?? []) {
      const c = plan.checks.find((x) => x.name === name);
      if (!c) continue;
      const h = this.holds(`check:${c.name}`, c.when);
      if (!h.ok) waiting.push({ kind: 'until', phase: phase.name, check: c.name, detail: h.detail });
    }
    for (const { key, check } of gatesOf(plan, phase)) {
      const h = this.holds(key, check.when);
      if (!h.ok) waiting.push({ kind: 'gate', phase: phase.name, name: check.name, detail: h.detail });
    }
    for (const a of phase.approvals ?? []) {
      if (a.at !== 'exit') continue;
      const have = validApprovers(s, a.role, `phase:${phase.name}`, ms(a.expiresAfter), s.now, false).length;
      if (have < a.quorum) waiting.push({ kind: 'approval', role: a.role, have, need: a.quorum, phase: phase.name, at: 'exit' });
    }
    for (const t of phase.tasks ?? []) {
      if (t.on !== 'exit' && t.required && s.taskRuns[taskKey(phase.name, t.name)]?.ok !== true) waiting.push({ kind: 'task', phase: phase.name, name: t.name });
    }
    // Exit tasks start once everything else allows leaving ("record the go/no-go rationale"); required ones must
    // then succeed before the phase is left.
    if (waiting.length === 0) {
      for (const t of phase.tasks ?? []) {
        if (t.on !== 'exit') continue;
        const run = s.taskRuns[taskKey(phase.name, t.name)];
        if (!run || run.at < s.phaseEnteredAt) this.runTask(t, phase.name);
        if (t.required && s.taskRuns[taskKey(phase.name, t.name)]?.ok !== true) waiting.push({ kind: 'task', phase: phase.name, name: t.name });
      }
    }
    const maxMs = ms(phase.maxDuration);
    if (waiting.length > 0 && maxMs !== undefined && elapsed >= maxMs && !s.notified[`max:${phase.name}`]) {
      s.notified[`max:${phase.name}`] = s.now;
      this.hold(`phase ${phase.name} reached its maximum duration ${phase.maxDuration} still waiting for: ${waiting.map(describeWait).join('; ')}`, 'max-duration', undefined);
      return false;
    }
    // A phase that may be left records nothing: what comes next (the next phase's entry, or after-100% stages)
    // records its own wait, so the list does not flip between two views on every tick.
    if (waiting.length > 0) this.setWaiting(waiting);
    return waiting.length === 0;
  }

  /** Tries to enter the next phase (or the first); returns true if it did. */
  private enterNext(options: { promotedBy?: string }): boolean {
    const { plan, s } = this;
    const index = s.phaseIndex + 1;
    const next = plan.phases[index];
    if (!next) {
      if (s.stage === 'ramp') {
        this.setWaiting([]);
        s.stage = 'final';
        return true;
      }
      return false;
    }
    const unmet = this.entryRequirements(index);
    if (unmet.length > 0) {
      this.setWaiting(unmet);
      if (index === 0 || unmet.some((w) => w.kind === 'token')) this.setStatus('waiting');
      return false;
    }
    const windows = next.calendar?.allowedWindows;
    if (windows && !insideWindows(s.now, windows, next.calendar?.timezone ?? 'UTC')) {
      const opensAt = nextWindowOpening(s.now, windows, next.calendar?.timezone ?? 'UTC');
      this.setWaiting([{ kind: 'window', phase: next.name, ...(opensAt !== undefined ? { opensAt } : {}) }]);
      return false;
    }
    this.enterPhase(index, options.promotedBy ? `promoted by ${options.promotedBy}` : this.rationale(index));
    return true;
  }

  /** What entering phase `index` still needs: preconditions, tokens, entry checks, approvals, budgets. */
  private entryRequirements(index: number): Wait[] {
    const { plan, s } = this;
    const phase = plan.phases[index];
    if (!phase) return [];
    const unmet: Wait[] = [];
    if (index === 0 || s.phaseIndex < 0) {
      if (s.providersOffline === undefined) unmet.push({ kind: 'providers', checked: false, offline: [] });
      else if (s.providersOffline.length > 0) unmet.push({ kind: 'providers', checked: true, offline: s.providersOffline });
      unmet.push(...this.unmetChecks(plan.preconditions).map((u): Wait => ({ kind: 'precondition', ...u })));
    }
    for (const token of plan.tokens) {
      const before = token.before ?? plan.phases[0]?.name;
      const beforeIndex = plan.phases.findIndex((p) => p.name === before);
      if (index >= beforeIndex && !s.tokensConsumed[token.id]) {
        unmet.push({ kind: 'token', id: token.id, role: token.role, phase: before ?? phase.name, blockedBy: this.unmetChecks(token.requires) });
      }
    }
    for (const c of phase.entry ?? []) {
      const h = this.holds(`entry:${phase.name}:${c.name}`, c.when);
      if (!h.ok) unmet.push({ kind: 'entry', phase: phase.name, check: c.name, detail: h.detail });
    }
    for (const a of phase.approvals ?? []) {
      if (a.at !== 'enter') continue;
      const subject = `phase:${phase.name}`;
      const rejected = s.approvals.filter((x) => x.role === a.role && x.subject === subject).at(-1);
      const have = validApprovers(s, a.role, subject, ms(a.expiresAfter), s.now, false).length;
      if (have < a.quorum) {
        unmet.push({
          kind: 'approval',
          role: a.role,
          have,
          need: a.quorum,
          phase: phase.name,
          at: 'enter',
          ...(rejected?.decision === 'reject' ? { rejected: { by: rejected.by, ...(rejected.reason ? { reason: rejected.reason } : {}) } } : {}),
        });
        this.requestApproval(a.role, phase.name, a.reason, ms(a.escalate?.after), a.escalate?.to);
      }
    }
    return unmet;
  }

  private requestApproval(role: string, phase: string, reason: string | undefined, escalateMs: number | undefined, escalateTo: string[] | undefined): void {
    const s = this.s;
    const key = `approval:${phase}:${role}`;
    if (s.notified[key] === undefined) {
      s.notified[key] = s.now;
      const evidence = this.evidence();
      this.notify('approval-needed', `Approval needed: ${role} to enter ${phase}${reason ? ` — ${reason}` : ''}. Evidence: ${evidence || 'no metrics yet'}. Approve with: canary approve <rollout-id> --role ${role}`);
      this.log('wait', `waiting for ${role} approval to enter ${phase}`);
    } else if (escalateMs !== undefined && s.notified[`escalated:${key}`] === undefined && s.now - (s.notified[key] ?? s.now) >= escalateMs) {
      s.notified[`escalated:${key}`] = s.now;
      this.log('escalate', `${role} approval to enter ${phase} pending for ${formatDuration(s.now - (s.notified[key] ?? s.now))}: escalated to ${escalateTo?.join(', ')}`);
      this.notify('escalation', `Approval by ${role} to enter ${phase} is overdue`, escalateTo?.filter((c) => this.plan.channels[c]));
    }
  }

  private enterPhase(index: number, rationale: string): void {
    const { plan, s } = this;
    const phase = plan.phases[index];
    if (!phase) return;
    const from = s.percent;
    for (const change of phase.configChanges ?? []) {
      s.compensations.push({ kind: 'config', phase: phase.name, key: change.key, value: change.from, provider: change.provider });
      this.commands.push({ type: 'set-config', key: change.key, value: change.to, provider: change.provider, reason: `entering ${phase.name}` });
    }
    // Each cohort flag goes to its own cohort's share; undoing the phase puts back exactly what it changed.
    const cohorts = this.cohortLevels(phase);
    const before = Object.fromEntries(Object.keys(cohorts).map((flag) => [flag, this.cohortLevel(flag)]));
    s.compensations.push({ kind: 'flags', phase: phase.name, percent: from, ...(Object.keys(before).length ? { cohorts: before } : {}) });
    this.commands.push({ type: 'set-flags', flags: plan.target.flags, percent: phase.percent, enabled: phase.percent > 0, reason: `entering ${phase.name}` });
    this.setCohortFlags(cohorts, `entering ${phase.name}`);
    // A phase entered again (after a revert) starts its gates and triggers afresh.
    for (const key of Object.keys(s.tracks)) if (key.includes(`:${phase.name}:`)) delete s.tracks[key];
    // A rollout-wide trigger's failureLimit counts per phase unless its failureScope is the rollout.
    for (const trigger of plan.triggers) {
      const track = s.tracks[`trigger:${trigger.name}`];
      const scope = (trigger.when as { failureScope?: 'phase' | 'rollout' }).failureScope ?? 'phase';
      if (track?.failures !== undefined && scope === 'phase') {
        track.failures = undefined;
        track.satisfied = false;
      }
    }
    s.phaseIndex = index;
    s.phaseEnteredAt = s.now;
    s.percent = phase.percent;
    s.waits = [];
    s.waitingFor = [];
    this.setStatus('running');
    for (const [key, latest] of Object.entries(s.latest)) s.baselines[`phase-start:${key}`] = latest.value;
    this.log(index === 0 ? 'enter-phase' : 'advance', `${index === 0 ? 'entered' : 'advanced to'} ${phase.name} at ${phase.percent}% (from ${from}%): ${rationale}`, undefined, true);
    this.notify(index === 0 ? 'phase-entered' : 'phase-advanced', `Rollout ${plan.name}: ${phase.name} at ${phase.percent}%`);
    for (const t of phase.tasks ?? []) if (t.on === 'enter') this.runTask(t, phase.name);
    if (index === plan.phases.length - 1) s.stage = 'final';
  }

  /** The go rationale for entering phase `index`: what was checked. */
  private rationale(index: number): string {
    const { plan, s } = this;
    const prev = this.phase;
    const parts: string[] = [];
    if (prev) {
      const minMs = ms(prev.minDuration);
      if (minMs !== undefined && s.now - s.phaseEnteredAt >= minMs) parts.push(`${prev.minDuration} minimum in ${prev.name} elapsed`);
      else if (prev.calendar?.endOfDay) parts.push(`end of day ${prev.calendar.endOfDay} ${prev.calendar.timezone ?? 'UTC'} reached in ${prev.name} (before its ${prev.minDuration} minimum)`);
      const until = (prev.until ?? []).flatMap((name) => {
        const c = plan.checks.find((x) => x.name === name);
        return c ? [`${name} (${s.tracks[`check:${name}`]?.detail ?? this.holds(`check:${name}`, c.when).detail})`] : [];
      });
      if (until.length) parts.push(`until ${until.join('; ')}`);
      const gates = gatesOf(plan, prev).map(({ key, check }) => `${check.name} ok (${s.tracks[key]?.detail ?? this.holds(key, check.when).detail})`);
      if (gates.length) parts.push(`gates: ${gates.join('; ')}`);
    }
    const next = plan.phases[index];
    const entry = (next?.entry ?? []).map((c) => {
      const key = `entry:${next?.name}:${c.name}`;
      return `${c.name} ok (${s.tracks[key]?.detail ?? this.holds(key, c.when).detail})`;
    });
    if (entry.length) parts.push(`entry: ${entry.join('; ')}`);
    const tokens = plan.tokens.filter((t) => t.before === next?.name && s.tokensConsumed[t.id]);
    for (const t of tokens) parts.push(`token ${t.id} consumed by ${s.tokensConsumed[t.id]?.by} (${t.role}) with ${t.requires.join(', ')} holding`);
    const approvals = (next?.approvals ?? [])
      .filter((a) => a.at !== 'exit')
      .map((a) => `${a.role}: ${validApprovers(s, a.role, `phase:${next?.name}`, undefined, s.now, false).join(', ')}`);
    if (approvals.length) parts.push(`approved by ${approvals.join('; ')}`);
    // Approvals needed to leave the previous phase were given there; name who gave them.
    const exits = (prev?.approvals ?? [])
      .filter((a) => a.at === 'exit')
      .map((a) => `${a.role}: ${validApprovers(s, a.role, `phase:${prev?.name}`, undefined, s.now, false).join(', ')}`);
    if (exits.length) parts.push(`${prev?.name} exit approved by ${exits.join('; ')}`);
    return parts.join('; ') || 'no conditions';
  }

  /** The target flags and the phase's cohort flags (`controls.cohortFlag` with each cohort's name). */
  private flagsFor(phase: PhaseDef): string[] {
    return [...this.plan.target.flags, ...Object.keys(this.cohortLevels(phase))];
  }

  /** Cohort flag → the percent the phase gives it: the cohort's own share of traffic. */
  private cohortLevels(phase: PhaseDef): Record<string, number> {
    const pattern = this.plan.controls.cohortFlag;
    if (!pattern) return {};
    return Object.fromEntries((phase.cohorts ?? []).map((c) => [pattern.replace('{name}', c.name), c.percent ?? phase.percent]));
  }

  /** The percent a cohort flag is at now: what the last phase that set it gave it, minus what was undone. */
  private cohortLevel(flag: string): number {
    return this.s.cohortFlags?.[flag] ?? 0;
  }

  private setCohortFlags(levels: Record<string, number>, reason: string): void {
    const s = this.s;
    // One command per level, in a stable order, so equal levels share a write.
    const byLevel = new Map<number, string[]>();
    for (const [flag, percent] of Object.entries(levels)) {
      if (this.cohortLevel(flag) === percent && s.cohortFlags?.[flag] !== undefined) continue;
      byLevel.set(percent, [...(byLevel.get(percent) ?? []), flag]);
      s.cohortFlags = { ...s.cohortFlags, [flag]: percent };
    }
    for (const [percent, flags] of byLevel) this.commands.push({ type: 'set-flags', flags, percent, enabled: percent > 0, reason });
  }

  private forcePromote(who: string): void {
    const { plan } = this;
    // Apply every skipped phase's configuration so the last phase runs as planned.
    for (let i = this.s.phaseIndex + 1; i < plan.phases.length - 1; i++) {
      for (const change of plan.phases[i]?.configChanges ?? []) {
        this.s.compensations.push({ kind: 'config', phase: plan.phases[i]?.name ?? '', key: change.key, value: change.from, provider: change.provider });
        this.commands.push({ type: 'set-config', key: change.key, value: change.to, provider: change.provider, reason: `promote --force by ${who}` });
      }
    }
    this.s.hold = undefined;
    this.s.pause = undefined;
    this.enterPhase(plan.phases.length - 1, `promote --force by ${who}`);
  }

  /** After the last phase: its own wait, re-freeze, stabilization, success criteria. Returns true if it moved. */
  private afterFull(): boolean {
    const { plan, s } = this;
    const after = plan.afterFull;
    switch (s.stage) {
      case 'final': {
        if (!this.phaseDone()) return false;
        this.setWaiting([]);
        if (this.phase?.permanent && !after) {
          this.finish('completed', `reached ${s.percent}% in ${this.phase.name}; the phase is permanent`);
          return false;
        }
        if (after?.refreeze?.length) {
          this.setStage('refreeze');
          this.log('refreeze', `full cutover stable: starting golden re-freeze (${after.refreeze.map((t) => t.name).join(', ')})`);
          this.continueRefreeze();
          return true;
        }
        return this.startStabilization();
      }
      case 'refreeze':
        return false;
      case 'stabilization': {
        const total = ms(after?.stabilization?.duration) ?? 0;
        if (s.now - (s.stageStartedAt ?? s.now) < total) return false;
        const failing = (after?.stabilization?.gates ?? []).filter((g) => !this.holds(`stabilization:${g.name}`, g.when).ok).map((g) => g.name);
        this.log('stabilize', `stabilization of ${after?.stabilization?.duration} ended: ${failing.length ? `not stable: ${failing.join(', ')}` : 'stable'}`, undefined, true);
        this.notify('stabilization-report', `Stabilization ended: ${failing.length ? `not stable (${failing.join(', ')})` : 'stable'}`);
        for (const t of after?.stabilization?.tasks ?? []) if (t.on === 'exit') this.runTask(t, 'stabilization');
        return this.startSuccessCriteria();
      }
      case 'success-criteria': {
        const over = ms(after?.successCriteria?.over) ?? 0;
        if (s.now - (s.stageStartedAt ?? s.now) < over) return false;
        const results: Record<string, 'pass' | 'fail' | 'inconclusive'> = {};
        for (const c of after?.successCriteria?.checks ?? []) {
          const track = s.tracks[`success:${c.name}`];
          const h = this.holds(`success:${c.name}`, c.when);
          results[c.name] = h.ok ? 'pass' : track?.inconclusiveSince !== undefined ? 'inconclusive' : 'fail';
        }
        s.successCriteria = results;
        const summary = Object.entries(results).map(([k, v]) => `${k}: ${v}`).join(', ');
        this.log('success-criteria', `success criteria over ${after?.successCriteria?.over}: ${summary}`, undefined, true);
        this.finish('completed', `rollout complete at ${s.percent}%; success criteria ${summary}`);
        return false;
      }
      default:
        return false;
    }
  }

  private continueRefreeze(): void {
    const { plan, s } = this;
    const steps = plan.afterFull?.refreeze ?? [];
    for (const t of steps) {
      const run = s.taskRuns[taskKey('refreeze', t.name)];
      if (!run) {
        this.runTask(t, 'refreeze');
        if (!['snapshot', 'notify'].includes(t.run.type)) return;
        continue;
      }
      if (run.ok === undefined) return;
      if (!run.ok) {
        this.hold(`re-freeze step ${t.name} failed: ${run.detail ?? 'no detail'}`, 'refreeze', undefined);
        return;
      }
    }
    if (s.stage === 'refreeze') {
      this.log('refreeze', 'golden re-freeze complete');
      this.startStabilization();
    }
  }

  private startStabilization(): boolean {
    const after = this.plan.afterFull;
    if (after?.stabilization) {
      this.setStage('stabilization');
      this.setStatus('stabilizing');
      this.log('stabilize', `stabilization for ${after.stabilization.duration} started${after.stabilization.tasks.length ? ` with tasks ${after.stabilization.tasks.map((t) => t.name).join(', ')}` : ''}`);
      for (const t of after.stabilization.tasks) if (t.on === 'enter') this.runTask(t, 'stabilization');
      return true;
    }
    return this.startSuccessCriteria();
  }

  private startSuccessCriteria(): boolean {
    const after = this.plan.afterFull;
    if (after?.successCriteria) {
      this.setStage('success-criteria');
      this.setStatus('stabilizing');
      this.log('success-criteria', `evaluating success criteria over ${after.successCriteria.over}`);
      return true;
    }
    this.finish('completed', `rollout complete at ${this.s.percent}%`);
    return false;
  }

  private setStage(stage: RolloutState['stage']): void {
    this.s.stage = stage;
    this.s.stageStartedAt = this.s.now;
  }

  private budgetHolds(): void {
    const { plan, s } = this;
    const phase = this.phase;
    if (!phase) return;
    for (const b of plan.budgets) {
      if (!b.phases.includes(phase.name)) continue;
      const spent = s.spend[b.name] ?? s.latest[b.spend?.metric ?? '']?.value ?? 0;
      s.spend[b.name] = spent;
      const above = b.cosign?.above ?? b.limit;
      if (spent <= above) continue;
      const cosigned = b.cosign && validApprovers(s, b.cosign.role, `budget:${b.name}`, undefined, s.now, false).length > 0;
      if (cosigned || s.notified[`budget:${b.name}`] !== undefined) continue;
      s.notified[`budget:${b.name}`] = s.now;
      this.notify('budget-exceeded', `Budget ${b.name}: ${b.currency} ${spent} spent, above ${above}${b.cosign ? `; needs ${b.cosign.role} co-sign: canary approve <rollout-id> --role ${b.cosign.role}` : ''}`);
      this.hold(`budget ${b.name} spend ${b.currency} ${spent} is above ${above}${b.cosign ? `: needs a ${b.cosign.role} co-sign` : ''}`, `budget:${b.name}`, {
        decidedBy: b.cosign ? [b.cosign.role] : undefined,
        default: 'stay',
      });
    }
  }

  // --- holds, rollback, kill ------------------------------------------------------------------------------------

  private hold(reason: string, cause: string, policy: TriggerDef['hold'] | undefined): void {
    const s = this.s;
    if (s.hold) return;
    const timeoutMs = ms(policy?.timeout);
    s.hold = {
      reason,
      cause,
      since: s.now,
      decidedBy: policy?.decidedBy,
      deadline: timeoutMs === undefined ? undefined : s.now + timeoutMs,
      default: policy?.default ?? 'stay',
    };
    this.setStatus('holding');
    const decision = policy?.decidedBy ? `; ${policy.decidedBy.join(' or ')} decides (canary resume / canary rollback)` : '';
    const timeout = timeoutMs !== undefined ? `; if unresolved within ${policy?.timeout}: ${policy?.default}` : '';
    this.log('hold', `HOLD: ${reason}${decision}${timeout}`, undefined, true);
    this.notify('hold', `Rollout held: ${reason}${decision}${timeout}`);
  }

  private holdTimeout(): void {
    const s = this.s;
    const hold = s.hold;
    if (!hold) return;
    const reason = `hold on ${hold.cause} unresolved for ${formatDuration(s.now - hold.since)}: ${hold.default}`;
    s.hold = undefined;
    switch (hold.default) {
      case 'rollback':
        this.startRollback(reason, 'rolled_back');
        break;
      case 'revert-phase':
        this.revertPhase(reason);
        break;
      case 'kill':
        this.kill(reason);
        break;
      case 'resume':
        this.resume(reason, 'system');
        break;
      case 'stay':
        s.hold = { ...hold, deadline: undefined };
        break;
    }
  }

  private resume(reason: string, by: string): void {
    const s = this.s;
    s.hold = undefined;
    s.pause = undefined;
    this.setStatus(s.stage === 'ramp' || s.stage === 'final' ? 'running' : 'stabilizing');
    this.log('resume', reason, by);
    this.notify('resumed', reason);
  }

  private revertPhase(reason: string): void {
    const { plan, s } = this;
    if (s.phaseIndex <= 0) {
      this.startRollback(`${reason} (no previous phase to revert to)`, 'rolled_back');
      return;
    }
    const current = this.phase;
    const undo = s.compensations.filter((c) => c.phase === current?.name).reverse();
    s.compensations = s.compensations.filter((c) => c.phase !== current?.name);
    this.compensate(undo, `revert ${current?.name}`);
    s.phaseIndex -= 1;
    s.phaseEnteredAt = s.now;
    s.stage = 'ramp';
    s.percent = plan.phases[s.phaseIndex]?.percent ?? 0;
    s.hold = undefined;
    // Stay at the previous phase until someone resumes: re-advancing by itself would walk back into the problem.
    s.pause = { by: 'system', reason: `reverted from ${current?.name}: ${reason}`, since: s.now };
    this.setStatus('paused');
    this.log('revert-phase', `reverted from ${current?.name} to ${plan.phases[s.phaseIndex]?.name} at ${s.percent}% and paused until resumed: ${reason}`, undefined, true);
    this.notify('rollback', `Reverted to ${plan.phases[s.phaseIndex]?.name} (${s.percent}%): ${reason}`);
  }

  private startRollback(reason: string, outcome: Outcome, by?: string): void {
    const { plan, s } = this;
    // target previous-percent: only the current phase's changes are undone; the rollout ends at the phase before it.
    const current = this.phase?.name;
    const partial = plan.rollback.target === 'previous-percent' && s.phaseIndex > 0;
    const undo = [...s.compensations].filter((c) => !partial || c.phase === current).reverse();
    s.compensations = partial ? s.compensations.filter((c) => c.phase !== current) : [];
    this.compensate(s.trustV2 ? straightToSafety(undo) : undo, 'rollback');
    s.percent = partial ? (plan.phases[s.phaseIndex - 1]?.percent ?? 0) : 0;
    s.hold = undefined;
    s.pause = undefined;
    this.setStatus('rolling-back');
    const withinMs = ms(plan.rollback.verify?.within);
    s.rollback = { reason, startedAt: s.now, verifyUntil: withinMs === undefined ? undefined : s.now + withinMs, outcome };
    this.log('rollback', `ROLLBACK: ${reason}; flags to ${s.percent}%${undo.some((c) => c.kind === 'config') ? ', configuration reverted' : ''}`, by, true);
    this.notify('rollback', `Rollout rolled back: ${reason}`);
    for (const t of plan.rollback.tasks ?? []) this.runTask(t, 'rollback');
    if (withinMs === undefined) this.finish(outcome, reason);
    else {
      const metrics = this.metricsFor((plan.rollback.verify?.checks ?? []).map((c) => c.when));
      if (metrics.length > 0) this.emitObserve(metrics);
    }
  }

  private verifyRollback(): void {
    const { plan, s } = this;
    const checks = plan.rollback.verify?.checks ?? [];
    const failing = checks.filter((c) => !this.holds(`verify:${c.name}`, c.when).ok);
    if (failing.length === 0 && s.rollback) {
      s.rollback.verified = true;
      this.log('rollback-verified', `metrics back to baseline ${formatDuration(s.now - s.rollback.startedAt)} after rollback (bound ${plan.rollback.verify?.within})`, undefined, true);
      this.notify('rollback-verified', 'Rollback verified: metrics back to baseline');
      this.finish(s.rollback.outcome, s.rollback.reason);
    }
  }

  private checkRollbackDeadline(): void {
    const { plan, s } = this;
    if (!s.rollback?.verifyUntil || s.now < s.rollback.verifyUntil) return;
    const failing = (plan.rollback.verify?.checks ?? []).map((c) => `${c.name}: ${this.holds(`verify:${c.name}`, c.when).detail}`);
    s.rollback.verified = false;
    this.log('rollback-unverified', `metrics did NOT return to baseline within ${plan.rollback.verify?.within} of rollback: ${failing.join('; ')}`, undefined, true);
    this.notify('rollback-verified', `Rollback NOT verified within ${plan.rollback.verify?.within}`);
    this.finish(s.rollback.outcome, s.rollback.reason);
  }

  private kill(reason: string, by?: string): void {
    const { plan, s } = this;
    const configs = [...s.compensations].reverse().filter((c) => c.kind === 'config');
    const flags = [...new Set([...plan.target.flags, ...plan.phases.flatMap((p) => this.flagsFor(p))])];
    this.commands.push({ type: 'set-flags', flags, percent: 0, enabled: false, reason: `kill: ${reason}` });
    if (plan.controls.killSwitch) this.commands.push({ type: 'set-flags', flags: [plan.controls.killSwitch.flag], percent: 0, enabled: false, reason: `kill switch: ${reason}` });
    this.compensate(configs, 'kill');
    s.compensations = [];
    if (s.cohortFlags) s.cohortFlags = Object.fromEntries(Object.keys(s.cohortFlags).map((flag) => [flag, 0]));
    s.percent = 0;
    this.log('kill', `KILL: ${reason}; all flags off`, by, true);
    this.notify('killed', `Rollout killed: ${reason}`);
    this.finish('killed', reason);
  }

  private compensate(list: Compensation[], why: string): void {
    for (const c of list) {
      if (c.kind === 'config' && c.key !== undefined && c.value !== undefined) {
        this.commands.push({ type: 'set-config', key: c.key, value: c.value, provider: c.provider, reason: why });
      } else if (c.kind === 'flags') {
        const percent = c.percent ?? 0;
        this.commands.push({ type: 'set-flags', flags: this.plan.target.flags, percent, enabled: percent > 0, reason: why });
        if (c.cohorts) this.setCohortFlags(c.cohorts, why);
      }
    }
  }

  private finish(outcome: Outcome, reason: string): void {
    const s = this.s;
    s.outcome = outcome;
    s.hold = undefined;
    s.waits = [];
    s.waitingFor = [];
    s.stage = 'done';
    s.nextObservationAt = undefined;
    this.setStatus(outcome === 'completed' ? 'completed' : outcome === 'killed' ? 'killed' : outcome === 'aborted' ? 'aborted' : 'rolled_back');
    if (outcome === 'completed') {
      this.log('complete', reason, undefined, true);
      this.notify('completed', `Rollout ${this.plan.name} completed at ${s.percent}%`);
    }
  }

  // --- tasks ----------------------------------------------------------------------------------------------------

  private runTask(task: TaskDef, scope: string): void {
    const s = this.s;
    const key = `${scope}:${task.name}`;
    s.taskRuns[key] = { at: s.now };
    switch (task.run.type) {
      case 'snapshot': {
        const names = task.run.metrics ?? Object.keys(s.latest);
        this.log('snapshot', `metrics snapshot (${task.name})`, undefined, true, names);
        s.taskRuns[key] = { at: s.now, ok: true };
        break;
      }
      case 'notify':
        this.commands.push({ type: 'notify', event: 'stabilization-report', channels: task.run.channels, message: task.run.message });
        s.taskRuns[key] = { at: s.now, ok: true };
        break;
      case 'manual':
        // A person does it and reports the result (a task-result event); nothing runs.
        this.log('task', `task ${task.name} assigned${task.run.role ? ` to ${task.run.role}` : ''}: ${task.description ?? task.name}`);
        break;
      default:
        this.commands.push({ type: 'run-task', task: task.name, scope });
    }
  }

  private runDueTasks(): void {
    const { s } = this;
    const due = (task: TaskDef, scope: string) => {
      const last = s.taskRuns[taskKey(scope, task.name)]?.at;
      // repeatFor: "Week 1: daily health checks" — no repetitions once that long has passed since the stage began.
      const began = scope === 'stabilization' ? (s.stageStartedAt ?? s.phaseEnteredAt) : s.phaseEnteredAt;
      if (task.repeatFor !== undefined && s.now - began > (ms(task.repeatFor) ?? Infinity)) return;
      const every = ms(task.every);
      if (task.on === 'every' && every !== undefined) {
        const since = last ?? s.phaseEnteredAt;
        if (s.now - since >= every) this.runTask(task, scope);
      }
      if (task.on === 'daily' && task.at) {
        const tz = this.phase?.calendar?.timezone ?? 'UTC';
        const nextAt = nextDailyAt(last ?? (s.stageStartedAt ?? s.phaseEnteredAt) - 1, task.at, tz);
        if (s.now >= nextAt) this.runTask(task, scope);
      }
    };
    const phase = this.phase;
    if (phase && (s.stage === 'ramp' || s.stage === 'final') && s.status !== 'rolling-back') for (const t of phase.tasks ?? []) due(t, phase.name);
    if (s.stage === 'stabilization') for (const t of this.plan.afterFull?.stabilization?.tasks ?? []) due(t, 'stabilization');
  }

  // --- scheduling -----------------------------------------------------------------------------------------------

  /** Asks to be woken at the earliest moment something could change. */
  private schedule(): void {
    const { plan, s } = this;
    if (isFinished(s)) {
      // A finished rollout with a flag write still failing keeps retrying it: traffic must end where the outcome says.
      const retryAt = s.pendingFlagWrites?.length ? s.now + (this.intervalMs) : undefined;
      if (retryAt !== s.wakeAt) {
        s.wakeAt = retryAt;
        if (retryAt !== undefined) this.commands.push({ type: 'wake', at: retryAt });
      }
      return;
    }
    const candidates: number[] = [];
    const add = (t: number | undefined) => {
      if (t !== undefined && Number.isFinite(t) && t > s.now) candidates.push(t);
    };
    if (s.nextObservationAt === undefined && this.activeMetricConditions().length > 0) s.nextObservationAt = s.now;
    if (s.nextObservationAt !== undefined) candidates.push(Math.max(s.nextObservationAt, s.now + 1));
    const phase = this.phase;
    if (phase && (s.stage === 'ramp' || s.stage === 'final')) {
      add(s.phaseEnteredAt + (ms(phase.minDuration) ?? 0));
      add(s.phaseEnteredAt + (ms(phase.maxDuration) ?? Infinity));
      if (phase.calendar?.endOfDay) add(nextDailyAt(s.phaseEnteredAt, phase.calendar.endOfDay, phase.calendar.timezone));
      for (const t of phase.tasks ?? []) {
        if (t.on === 'every') add((s.taskRuns[taskKey(phase.name, t.name)]?.at ?? s.phaseEnteredAt) + (ms(t.every) ?? Infinity));
        if (t.on === 'daily' && t.at) add(nextDailyAt(s.now, t.at, phase.calendar?.timezone ?? 'UTC'));
      }
    }
    const next = plan.phases[s.phaseIndex + 1];
    if (next?.calendar?.allowedWindows && this.waitsForWindow(next.name)) {
      add(nextWindowOpening(s.now, next.calendar.allowedWindows, next.calendar.timezone));
    }
    for (const a of next?.approvals ?? []) {
      const asked = s.notified[`approval:${next?.name}:${a.role}`];
      if (asked !== undefined && a.escalate) add(asked + (ms(a.escalate.after) ?? Infinity));
    }
    add(s.hold?.deadline);
    add(s.rollback?.verifyUntil);
    // Offline providers are asked again every interval until they answer.
    if (s.phaseIndex < 0 && s.providersOffline?.length) add(s.now + (this.intervalMs));
    if (s.stage === 'stabilization') {
      add((s.stageStartedAt ?? s.now) + (ms(plan.afterFull?.stabilization?.duration) ?? 0));
      for (const t of plan.afterFull?.stabilization?.tasks ?? []) if (t.on === 'daily' && t.at) add(nextDailyAt(s.now, t.at, 'UTC'));
    }
    if (s.stage === 'success-criteria') add((s.stageStartedAt ?? s.now) + (ms(plan.afterFull?.successCriteria?.over) ?? 0));
    const wake = candidates.length ? Math.min(...candidates) : undefined;
    if (wake !== s.wakeAt) {
      s.wakeAt = wake;
      if (wake !== undefined) this.commands.push({ type: 'wake', at: wake });
    }
  }

  // --- bookkeeping ----------------------------------------------------------------------------------------------

  private setStatus(status: RolloutStatus): void {
    this.s.status = status;
  }

  /**
   * Records what the rollout waits for (and its words in `waitingFor`). A token that cannot be consumed is a HOLD
   * worth a line in the ops log whenever its reason changes.
   */
  private setWaiting(waits: Wait[]): void {
    const s = this.s;
    const previous = s.waits;
    s.waits = waits;
    const reasons = waits.map(describeWait);
    if (reasons.length === s.waitingFor.length && reasons.every((r, i) => r === s.waitingFor[i])) return;
    const holds = tokenHolds(waits).map(describeWait);
    // A state from before waits were data has only the words: a HOLD whose sentence it already shows is not new.
    const before = previous ? tokenHolds(previous).map(describeWait) : holds.filter((h) => s.waitingFor.includes(h));
    s.waitingFor = reasons;
    const now = holds.join('; ');
    if (now && now !== before.join('; ')) this.log('hold', `HOLD before ${phaseName(this.plan, s.phaseIndex + 1)}: ${now}`);
  }

  /**
   * Whether the rollout waits for `phase`'s next change window. A state from before waits were data (no `waits`)
   * waited for it when its words were exactly that wait's, alone.
   */
  private waitsForWindow(phase: string): boolean {
    const s = this.s;
    if (s.waits) return s.waits.some((w) => w.kind === 'window');
    return s.waitingFor.length === 1 && s.waitingFor[0] === describeWait({ kind: 'window', phase });
  }

  private evidence(): string {
    return Object.entries(this.s.tracks)
      .filter(([key]) => key.startsWith(`gate:${this.phase?.name}:`))
      .map(([key, t]) => `${describeKey(key)} ${t.detail ?? ''}`)
      .join('; ');
  }

  private notify(event: NotificationEvent, message: string, extraChannels: string[] = []): void {
    const channels = new Set(extraChannels);
    for (const n of this.plan.notifications) if (n.on.includes(event)) n.channels.forEach((c) => channels.add(c));
    if (channels.size > 0) this.commands.push({ type: 'notify', event, channels: [...channels].sort(), message });
  }

  private log(action: DecisionAction, reason: string, actor?: string, withMetrics = false, metricNames?: string[]): void {
    const s = this.s;
    const entry = {
      at: s.now,
      phase: phaseName(this.plan, s.phaseIndex),
      percent: s.percent,
      action,
      reason,
      ...(actor ? { actor } : {}),
      ...(withMetrics ? { metrics: this.snapshot(metricNames) } : {}),
    };
    s.opsLog.push(entry);
    this.commands.push({ type: 'log', entry });
  }

  private snapshot(names?: string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, v] of Object.entries(this.s.latest)) if (!names || names.includes(name)) out[name] = v.value;
    return out;
  }
}

function describeKey(key: string): string {
  const parts = key.split(':');
  return `${parts[0]} ${parts.slice(1).join('/')}`;
}

function describeEvent(event: MessageEvent): string {
  switch (event.type) {
    case 'approval':
      return `${event.decision} by ${event.role} ${event.by}`;
    case 'consume-token':
      return `consuming token ${event.token} by ${event.by}`;
    case 'attestation':
      return `attestation of ${event.check} by ${event.by}`;
    case 'report-value':
      return `report ${event.name}=${String(event.value)} by ${event.by}`;
    case 'operator':
      return `${event.command} by ${event.by}`;
    case 'incident':
      return `incident ${event.id}`;
    case 'alert':
      return `alert ${event.alert}`;
    case 'spend':
      return `spend on ${event.budget}`;
  }
}

function actorOf(event: MessageEvent): string | undefined {
  return 'by' in event ? event.by : undefined;
}

/**
 * The roles a plan grants an operator command: `controls.operators` for every command, plus `controls.safety` for
 * those that move toward safety (pause, rollback, abort, kill); for promote --force only `controls.forcePromote`.
 * Empty: no role may give it, only the plan's owner (and promote --force nobody).
 */
export function grantedOperatorRoles(plan: Plan, command: OperatorCommand): string[] {
  const { controls } = plan;
  if (command === 'force-promote') return controls.forcePromote?.roles ?? [];
  return [...(controls.operators ?? []), ...(SAFETY_COMMANDS.includes(command) ? (controls.safety ?? []) : [])];
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
