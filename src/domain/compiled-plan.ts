/**
 * A validated plan compiled once for the machine (src/plan/compile.ts builds it): every duration in milliseconds,
 * every condition with the typed key its track is kept under, per-phase gates, triggers, entry checks, approvals and
 * tasks, and lookups by position. The machine never parses a duration or derives a list on a tick.
 */
import type { ApprovalRequirementDef, BudgetDef, CheckDef, ConditionDef, PhaseDef, Plan, TaskDef, TriggerDef } from './plan-schema';
import { metricsOf, type ConditionTiming } from './conditions';
import type { Polarity } from './sustain';
import type { RolloutState } from './types';

/** A condition in force somewhere, with the key of its track and what it reads. */
export interface KeyedCondition {
  /** The track key: `gate:<phase>:<name>`, `trigger:<name>`, `entry:<phase>:<name>`, `check:<name>`, … */
  key: string;
  when: ConditionDef;
  polarity: Polarity;
  /** Its durations and sustain rule in numbers (with `everyMs`: judged at its own cadence, not every observation). */
  timing: ConditionTiming;
  /**
   * Observed so its answer is ready when asked (a token's required check, judged when someone consumes the token),
   * not a gate the rollout stands on: missing data there is not a reason to act (`onInconclusive`).
   */
  onDemand?: boolean;
}

/** A named check (gate, entry check, precondition, verification) under its track key. */
export interface KeyedCheck {
  key: string;
  check: CheckDef;
  timing: ConditionTiming;
}

export interface KeyedTrigger {
  key: string;
  trigger: TriggerDef;
  timing: ConditionTiming;
  /** Read from metric observations (its track is updated there); otherwise evaluated on every event. */
  metricDriven: boolean;
  hold: HoldPolicy;
}

/** How a hold ends: who decides, by when, and what happens if nobody does. */
export interface HoldPolicy {
  decidedBy?: string[];
  /** The timeout as the plan wrote it, for the ops log. */
  timeout?: string;
  timeoutMs?: number;
  default: NonNullable<NonNullable<TriggerDef['hold']>['default']>;
}

export interface CompiledApproval {
  def: ApprovalRequirementDef;
  role: string;
  quorum: number;
  at: ApprovalRequirementDef['at'];
  expiresMs?: number;
  escalateMs?: number;
}

export interface CompiledTask {
  def: TaskDef;
  name: string;
  /** `<scope>:<task>`, the key of the task's runs in its usual scope. */
  key: string;
  everyMs?: number;
  repeatForMs?: number;
}

export interface CompiledPhase {
  def: PhaseDef;
  index: number;
  name: string;
  percent: number;
  /** The minimum duration, or undefined when the phase has none. */
  minMs?: number;
  maxMs?: number;
  timezone: string;
  /** Shared gates that apply here, then its own. */
  gates: KeyedCheck[];
  /** `until` checks (keyed `check:<name>`). */
  until: KeyedCheck[];
  /** Checks that must hold to enter this phase (keyed `entry:<phase>:<name>`). */
  entry: KeyedCheck[];
  /** Rollout-wide triggers, then the phase's own. */
  triggers: KeyedTrigger[];
  approvals: CompiledApproval[];
  tasks: CompiledTask[];
  /** Cohort flag → the percent this phase gives it. */
  cohortLevels: Record<string, number>;
}

/** Where a rollout is, for the lookups that depend only on that. */
export type Stage = RolloutState['stage'];

export interface CompiledPlan {
  source: Plan;
  intervalMs: number;
  inconclusiveLimitMs: number;
  /** How old an http/command check result may be before it is run again while in force. */
  checkRefreshMs: number;
  phases: CompiledPhase[];
  /** Rollout-wide triggers (in force before the first phase too). */
  triggers: KeyedTrigger[];
  /** The plan's named checks (keyed `check:<name>`), by name. */
  checksByName: ReadonlyMap<string, KeyedCheck>;
  /** The circuit breaker's own condition (`controls.circuitBreaker.when`) with its timing, if the plan has one. */
  circuitBreaker?: { when: ConditionDef; timing: ConditionTiming };
  /** Preconditions by name, keyed `check:<name>`. */
  preconditions: KeyedCheck[];
  /** Every condition in the plan (messages are validated against them; the first observation reads them). */
  allConditions: ConditionDef[];
  anomalyMetrics: ReadonlySet<string>;
  /** Flags read as `value` conditions, observed with every observation. */
  flagReads: string[];
  budgets: BudgetDef[];
  /** Every flag a kill turns off: the target flags and every phase's cohort flags. */
  killFlags: string[];
  rollback: { withinMs?: number; verify: KeyedCheck[] };
  stabilization?: { durationMs: number; gates: KeyedCheck[]; tasks: CompiledTask[] };
  successCriteria?: { overMs: number; checks: KeyedCheck[] };
  refreeze: CompiledTask[];
  /** Metric conditions folded into each observation, by {@link positionKey}. */
  active: ReadonlyMap<string, KeyedCondition[]>;
  /** Metrics each observation asks for, by {@link positionKey}. */
  observed: ReadonlyMap<string, string[]>;
  /**
   * The same two lookups without `until` checks and the checks of tokens still ahead, for rollouts started before
   * those were observed (`state.rulesV3` unset): they replay with what they read then.
   */
  activeBeforeChecks: ReadonlyMap<string, KeyedCondition[]>;
  observedBeforeChecks: ReadonlyMap<string, string[]>;
  /** Keys of the http and command checks in force, by phase index (-1 before the first phase). */
  checksInForce: ReadonlyMap<number, string[]>;
  /**
   * The http and command checks in force by {@link positionKey} (rules v3): also the checks of tokens still ahead,
   * the after-100% stages' gates and criteria, and a rollback's verification while it rolls back.
   */
  checksInForceAt: ReadonlyMap<string, string[]>;
  /** Every http and command condition of the plan by its check key: what the worker runs for a `run-check`. */
  checkConditions: ReadonlyMap<string, Extract<ConditionDef, { kind: 'http' | 'command' }>>;
  /** `before-rollout:<metric>` by metric. */
  beforeRolloutKeys: ReadonlyMap<string, string>;
}

/** The lookup key of a position: phase index, stage, rolling back. */
export function positionKey(phaseIndex: number, stage: Stage, rollingBack: boolean): string {
  return `${phaseIndex}|${stage}|${rollingBack}`;
}

/** The triggers in force at phase `index` (rollout-wide ones before the first phase). */
export function triggersAt(plan: CompiledPlan, index: number): KeyedTrigger[] {
  return plan.phases[index]?.triggers ?? plan.triggers;
}

/** Read from metric observations (a track updated there), rather than evaluated on every event. */
export function readsMetrics(cond: ConditionDef): boolean {
  return metricsOf(cond).length > 0 || cond.kind === 'freshness' || cond.kind === 'absence';
}

/**
 * The metrics an observation asks for when `conditions` are in force at phase `index`: what they read, every budget's
 * spend metric and the phase's snapshot tasks' metrics.
 */
export function observedMetrics(plan: CompiledPlan, conditions: ConditionDef[], index: number): string[] {
  const set = new Set<string>();
  for (const c of conditions) for (const m of metricsOf(c)) set.add(m);
  for (const b of plan.budgets) if (b.spend) set.add(b.spend.metric);
  for (const t of plan.phases[index]?.def.tasks ?? []) if (t.run.type === 'snapshot') (t.run.metrics ?? []).forEach((m) => set.add(m));
  return [...set].sort();
}
