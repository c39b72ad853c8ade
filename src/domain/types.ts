/**
 * The rollout machine's vocabulary: the events it consumes, the commands it emits, the state it keeps and the
 * ops-log entries that explain it. All plain serializable data (JSON), so state travels through Temporal payloads
 * and continue-as-new, and the simulator and the workflow exchange exactly the same values.
 */
import type { ApprovalRequest, OpsLogEntry } from './records';
import type { Wait } from './waits';

/** Epoch milliseconds. The machine never reads a clock: every event says when it happened. */
export type Millis = number;

// ---------------------------------------------------------------------------------------------------------------
// Observations

/**
 * One metric reading. "no data" is not "bad data" is not "source down": each is its own status, and none of them
 * is ever a pass.
 */
export type MetricReading =
  | { status: 'ok'; value: number; samples?: number; query?: string }
  | { status: 'no-data'; query?: string }
  | { status: 'invalid'; detail: string; query?: string }
  | { status: 'error'; detail: string; query?: string };

/** Who did something, as verified by the surface that accepted it. */
export interface Actor {
  /** Identity: e-mail, SSO subject, or "system". */
  by: string;
  role?: string;
  /** True when a signature over the message was verified against the role's keys. */
  verified?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Events

export type OperatorCommand = 'pause' | 'resume' | 'abort' | 'rollback' | 'promote' | 'force-promote' | 'kill';

export type RolloutEvent =
  | { type: 'start'; at: Millis }
  | { type: 'tick'; at: Millis }
  | {
      type: 'observation';
      at: Millis;
      metrics: Record<string, MetricReading>;
      /** Flag values read for `value` conditions with from: flag. */
      flags?: Record<string, string | number | boolean | undefined>;
    }
  | {
      type: 'approval';
      at: Millis;
      id: string;
      role: string;
      by: string;
      decision: 'approve' | 'reject';
      /** What is approved: `phase:<name>` (default: what is pending), `budget:<name>`, or `hold`. */
      subject?: string;
      reason?: string;
      verified?: boolean;
      /** Why a signature that came with the message did not verify. */
      signatureProblem?: string;
    }
  | { type: 'attestation'; at: Millis; id: string; check: string; by: string; role?: string; note?: string }
  | { type: 'report-value'; at: Millis; id: string; name: string; value: string | number | boolean; by: string }
  | { type: 'consume-token'; at: Millis; id: string; token: string; by: string; role: string; verified?: boolean; signatureProblem?: string }
  | { type: 'incident'; at: Millis; id: string; severity: string; title: string; status?: 'open' | 'resolved' }
  | { type: 'alert'; at: Millis; id: string; alert: string; labels?: Record<string, string>; status: 'firing' | 'resolved' }
  | { type: 'spend'; at: Millis; id: string; budget: string; total: number; by?: string }
  | { type: 'operator'; at: Millis; id: string; command: OperatorCommand; by: string; role?: string; reason?: string }
  | { type: 'task-result'; at: Millis; task: string; scope: string; ok: boolean; detail?: string; by?: string }
  | { type: 'check-result'; at: Millis; check: string; ok: boolean; detail?: string }
  /** A flag write the provider refused or could not take after its retries (FlagWriteFailed). */
  | { type: 'flag-write-failed'; at: Millis; flags: string[]; percent: number; enabled: boolean; reason: string; detail: string }
  /** The result of checking that every provider the plan uses answers (before the first phase). */
  | { type: 'providers-checked'; at: Millis; offline: string[] }
  /** A retried flag write that went through. */
  | { type: 'flag-write-retried'; at: Millis; flags: string[]; percent: number; enabled: boolean }
  /**
   * A message that could not be taken at all: a payload that does not parse (wrong shape, wrong types, too long, not
   * decodable). It has no trustworthy id, so it is never deduplicated: each one is refused in the ops log.
   */
  | { type: 'message-refused'; at: Millis; message: string; reason: string }
  /** A notification channel that could not deliver after its retries (reported, never retried forever). */
  | { type: 'notification-failed'; at: Millis; channel: string; event: string; detail: string }
  /** Another rollout holds the lock on a flag this rollout writes: this one never writes it. */
  | { type: 'flag-lock-refused'; at: Millis; flag: string; holder: string }
  /**
   * Someone asked Temporal to cancel the rollout's workflow (the UI's "Request Cancellation", `temporal workflow
   * cancel`): the rollout stops the safe way, as an abort, and the workflow completes once traffic is off the canary.
   */
  | { type: 'cancel-requested'; at: Millis };

/** Events that carry a message id (deduplicated, also across continue-as-new). */
export type MessageEvent = Extract<RolloutEvent, { id: string }>;

// ---------------------------------------------------------------------------------------------------------------
// Commands

export type NotificationEvent =
  | 'started'
  | 'phase-entered'
  | 'phase-advanced'
  | 'approval-needed'
  | 'approval-received'
  | 'token-consumed'
  | 'hold'
  | 'resumed'
  | 'paused'
  | 'trigger-fired'
  | 'rollback'
  | 'rollback-verified'
  | 'killed'
  | 'completed'
  | 'stabilization-report'
  | 'budget-exceeded'
  | 'task-failed'
  | 'flag-write-failed'
  | 'escalation';

export type RolloutCommand =
  | { type: 'set-flags'; flags: string[]; percent: number; enabled: boolean; reason: string; retry?: boolean }
  | { type: 'set-config'; key: string; value: string | number | boolean; provider?: string; reason: string }
  | { type: 'observe'; metrics: string[]; flags: string[] }
  /** Ask every metric source and the flag provider the plan uses whether it answers. */
  | { type: 'check-providers' }
  | { type: 'run-task'; task: string; scope: string }
  | { type: 'run-check'; check: string; scope: string }
  | { type: 'notify'; event: NotificationEvent; channels: string[]; message: string; approval?: ApprovalRequest }
  | { type: 'log'; entry: OpsLogEntry }
  | { type: 'wake'; at: Millis };

// ---------------------------------------------------------------------------------------------------------------
// Decisions and the ops log

/** What the machine decided, in one word; the ops log says why in words. */
export type DecisionAction =
  | 'start'
  | 'wait'
  | 'enter-phase'
  | 'advance'
  | 'hold'
  | 'resume'
  | 'pause'
  | 'alert'
  | 'revert-phase'
  | 'rollback'
  | 'rollback-verified'
  | 'rollback-unverified'
  | 'kill'
  | 'approve'
  | 'reject'
  | 'refuse'
  | 'attest'
  | 'report'
  | 'consume-token'
  | 'incident'
  | 'task'
  | 'escalate'
  | 'promote'
  | 'force-promote'
  | 'stabilize'
  | 'refreeze'
  | 'success-criteria'
  | 'snapshot'
  | 'flag-write-failed'
  | 'flag-write-retried'
  | 'notification-failed'
  | 'complete';

export type { ApprovalDecision, ApprovalRequest, GateEvidence, OpsLogEntry, Refusal, RefusalCode } from './records';
export type Outcome = 'completed' | 'rolled_back' | 'held' | 'aborted' | 'killed';

export type RolloutStatus =
  | 'pending'
  | 'waiting'
  | 'running'
  | 'holding'
  | 'paused'
  | 'rolling-back'
  | 'stabilizing'
  | 'completed'
  | 'rolled_back'
  | 'aborted'
  | 'killed';

// ---------------------------------------------------------------------------------------------------------------
// State

/** Progress of one condition over time ("for 10m", "3 consecutive 5m windows", inconclusive since …). */
export interface ConditionTrack {
  /** Since when the condition has been continuously true (for "for" durations). */
  trueSince?: Millis;
  /** Consecutive windows passed, and the end of the window being collected. */
  windowsPassed: number;
  windowEnd?: Millis;
  windowVerdict?: 'pass' | 'fail' | 'inconclusive';
  /** Since when the data behind this condition has been missing or invalid. */
  inconclusiveSince?: Millis;
  lastEvaluatedAt?: Millis;
  /** Whether the sustain rule is met as of the last evaluation. */
  satisfied: boolean;
  /** The trigger fired and has not yet cleared (edge-triggered actions fire once per breach). */
  latched?: boolean;
  /** Failed measurements so far, for a condition with a failureLimit (reset with the track at each phase entry). */
  failures?: number;
  /** The inconclusive limit was reported for this stretch of missing data. */
  inconclusiveReported?: boolean;
  /** The last verdict in words. */
  detail?: string;
}

export interface Compensation {
  kind: 'flags' | 'config';
  phase: string;
  /** For flags: the percent the target flags go back to. */
  percent?: number;
  /** For flags: each cohort flag the phase switched, with the percent it had before (0: off). */
  cohorts?: Record<string, number>;
  key?: string;
  value?: string | number | boolean;
  provider?: string;
}

export interface Hold {
  reason: string;
  since: Millis;
  /** The trigger (or rule) that caused it. */
  cause: string;
  decidedBy?: string[];
  deadline?: Millis;
  default: 'rollback' | 'revert-phase' | 'resume' | 'kill' | 'stay';
}

export interface ApprovalRecord {
  id: string;
  role: string;
  by: string;
  subject: string;
  decision: 'approve' | 'reject';
  at: Millis;
  reason?: string;
  verified: boolean;
}

export interface RolloutState {
  status: RolloutStatus;
  outcome?: Outcome;
  startedAt: Millis;
  now: Millis;
  /** -1 before the first phase. */
  phaseIndex: number;
  phaseEnteredAt: Millis;
  percent: number;
  /**
   * Flag writes that failed and are retried on every tick, oldest first. While any is pending the rollout does not
   * move forward: the traffic the flags carry is not what the state says.
   */
  pendingFlagWrites?: Array<{ flags: string[]; percent: number; enabled: boolean; reason: string; since: Millis; failures: number; retrying?: boolean }>;
  /** Whether the plan's providers answered at the last check before the first phase (undefined: not checked yet). */
  providersOffline?: string[];
  /** Cohort flags (`controls.cohortFlag`) switched so far → their percent (0: off). */
  cohortFlags?: Record<string, number>;
  /** Where the rollout is in its lifecycle after the last phase. */
  stage: 'ramp' | 'final' | 'refreeze' | 'stabilization' | 'success-criteria' | 'done';
  stageStartedAt?: Millis;
  hold?: Hold;
  pause?: { by: string; reason: string; since: Millis };
  /**
   * What the rollout waits for right now (unmet requirements), as data. Absent in states carried over from rollouts
   * started before waits were data: the machine records them again on its next step.
   */
  waits?: Wait[];
  /** {@link waits} in words (`describeWait`), kept for readers of the text and for states that predate `waits`. */
  waitingFor: string[];
  approvals: ApprovalRecord[];
  attestations: Record<string, { by: string; at: Millis }>;
  reported: Record<string, string | number | boolean>;
  tokensConsumed: Record<string, { by: string; at: Millis }>;
  incidents: Array<{ id: string; severity: string; title: string; at: Millis; status: 'open' | 'resolved' }>;
  alerts: Record<string, { labels: Record<string, string>; since: Millis }>;
  spend: Record<string, number>;
  taskRuns: Record<string, { at: Millis; ok?: boolean; detail?: string }>;
  checkResults: Record<string, { at: Millis; ok: boolean; detail?: string }>;
  tracks: Record<string, ConditionTrack>;
  /** Latest good value per metric, with its time. */
  latest: Record<string, { value: number; at: Millis; samples?: number }>;
  /** Recent values per metric for anomaly detection (bounded). */
  history: Record<string, Array<[Millis, number]>>;
  /** When each event-count metric last showed events (freshness/absence). */
  lastEventAt: Record<string, Millis>;
  baselines: Record<string, number>;
  flagValues: Record<string, string | number | boolean | undefined>;
  consecutiveSourceErrors: number;
  /** Consecutive evaluations where the circuit breaker's condition (the canary's own errors) held. */
  breakerErrors?: number;
  compensations: Compensation[];
  notified: Record<string, Millis>;
  nextObservationAt?: Millis;
  wakeAt?: Millis;
  rollback?: { reason: string; startedAt: Millis; verifyUntil?: Millis; verified?: boolean; outcome: Outcome };
  successCriteria?: Record<string, 'pass' | 'fail' | 'inconclusive'>;
  opsLog: OpsLogEntry[];
  /** Malformed messages refused so far (past the first 100, only every 100th is logged). */
  malformedMessages?: number;
  /** Message ids already processed (bounded), carried across continue-as-new. */
  processedIds: string[];
  /**
   * The decision rules that came with the trust work (rollouts whose history predates them replay with this unset):
   * a rollback writes each flag straight to its safe state (one write per flag, traffic first, configuration after)
   * instead of undoing phase by phase; a phase whose flag write went through only on retry counts its minimum duration
   * and gates from that moment; a decision waits for the readings asked for at its instant; a consecutive-windows gate
   * is unmet while its open window holds a failing reading; a hold's `decidedBy` binds resume and promote.
   */
  trustV2?: boolean;
  /**
   * Rules v3 (patched 'rules-v3', decided at the start and carried through continue-as-new; unset in rollouts started
   * before them, which keep the old behaviour): named checks that read metrics are observed where the rollout waits
   * for them (`until`, tokens ahead) and http/command checks run wherever they are in force, metrics or not (tokens
   * ahead, after-100% stages, rollback verification), each precondition once at the start; a decision on a hold named
   * by its cause is for its decider; an incident can be updated (resolved); rollout-wide event triggers act before the
   * first phase; a pause never hides a hold; a hold timing out to resume leaves an operator's pause; a write that would
   * put traffic back on after the rollout moved toward safety is not retried; budget spend read from a metric is read
   * at every check; exit approvals are requested and escalated; stabilization tasks keep their period and time zone;
   * daily tasks keep their local time when the clocks change; resuming a failed re-freeze step runs it again; a
   * promotion the next phase is not ready for says so; a person's task report is for a manual task of the plan, by
   * the role it is assigned to; reported spend only grows.
   */
  rulesV3?: boolean;
  /**
   * Readings asked for at the current instant (observations, check runs) that have not come back yet: decisions that
   * move the rollout forward wait for them, so they are made on the newest readings (trust-v2).
   */
  readingsPending?: number;
}

/** The result of a finished rollout, as the workflow returns it and the simulator prints it. */
export interface RolloutResult {
  outcome: Outcome;
  finalPercent: number;
  phase: string;
  /** Every decision, with its time as epoch milliseconds (`at`) and as an ISO 8601 string (`time`). */
  decisions: Array<{
    at: Millis;
    time: string;
    phase: string;
    action: DecisionAction;
    reason: string;
    /** The readings the decision was made on, and when they were observed (ISO 8601), where it cites any. */
    readings?: Record<string, number | string>;
    observedAt?: string;
  }>;
  /** Every approval and rejection received, in order, with who, which role, of what and whether its signature verified. */
  approvals?: ApprovalRecord[];
  opsLog: OpsLogEntry[];
  rollbackVerified?: boolean;
  successCriteria?: Record<string, 'pass' | 'fail' | 'inconclusive'>;
}
