/**
 * The timeline of a plan: what happens before phase 1, in each phase and after 100%, with the earliest time each
 * phase can start. `canary plan` prints it as text (or as this structure with --json); approvers read it to see what
 * they are signing off.
 *
 * Pure; imports only plan types and domain helpers. Takes a plan that passed validation.
 */
import { tryParseDuration } from '../domain/duration';
import {
  approvalNeedsSignature,
  describeAction,
  describeApproval,
  describeCondition,
  describeStep,
  describeTask,
  describeTrigger,
  formatSpan,
  type DescribeContext,
} from './describe';
import type { CheckDef, PhaseDef, Plan, TokenDef, TriggerDef } from './schema';
import { compilePlan } from './compile';

/** A check, gate or criterion in words. */
export interface DescribedCheck {
  name: string;
  /** The condition in words, e.g. `p95_latency_ms <= 500 ms in 3 consecutive 5m windows`. */
  text: string;
  description?: string;
  source?: string;
}

/** A gate that must hold to leave a phase. */
export interface GateStep extends DescribedCheck {
  /** True for a gate declared under the plan's `gates` (shared by phases), false for one of the phase's own. */
  shared: boolean;
}

/** A token that a role consumes before a phase can start. */
export interface TokenStep {
  id: string;
  role: string;
  requires: DescribedCheck[];
  onUnmet: TokenDef['onUnmet'];
  source?: string;
}

/** An approval a phase needs. */
export interface ApprovalStep {
  role: string;
  quorum: number;
  at: 'enter' | 'exit';
  /** From the requirement, else from the role. */
  signatureRequired: boolean;
  expiresAfter?: string;
  text: string;
  source?: string;
}

/** A trigger in effect during a phase. */
export interface TriggerStep {
  name: string;
  /** `rollout` for a trigger declared for the whole rollout, `phase` for one declared in the phase. */
  scope: 'rollout' | 'phase';
  action: TriggerDef['action'];
  severity?: TriggerDef['severity'];
  text: string;
  /** The tasks it starts when it fires, in words. */
  runbook: string[];
  source?: string;
}

/** One phase of the timeline. */
export interface PhaseStep {
  /** 1-based position. */
  number: number;
  name: string;
  description?: string;
  percent: number;
  cohorts: string[];
  minDuration?: string;
  maxDuration?: string;
  /** The earliest time the phase can start, counted from the start of the rollout: the previous minimums added up. */
  earliestStartMs: number;
  earliestStart: string;
  /** The earliest time the phase's minimum duration has passed. */
  earliestEndMs: number;
  earliestEnd: string;
  permanent: boolean;
  /** Calendar constraints in words (allowed windows, end of day). */
  calendar: string[];
  /** Tokens to consume before this phase starts (those for the first phase are under {@link PlanTimeline.beforeStart}). */
  tokens: TokenStep[];
  until: DescribedCheck[];
  entry: DescribedCheck[];
  /**
   * Shared gates that apply (all, or those named in useGates), then the phase's own: they must hold to advance, or,
   * in the last phase, for the rollout to go on to what follows 100%.
   */
  gates: GateStep[];
  approvals: ApprovalStep[];
  /** Rollout-wide triggers, then the phase's own. */
  triggers: TriggerStep[];
  configChanges: string[];
  tasks: string[];
  /** Budgets this phase's spend counts against, in words. */
  budgets: string[];
  /** What the phase waits for beyond its minimum duration: approvals, tokens, until-checks, required tasks. */
  waitsFor: string[];
  source?: string;
}

/** The whole timeline. */
export interface PlanTimeline {
  id: string;
  name: string;
  runId?: string;
  owner?: string;
  description?: string;
  target: Plan['target'];
  /** How gates and triggers are evaluated, and what missing data and source errors do. */
  analysis: string;
  beforeStart: { preconditions: DescribedCheck[]; tokens: TokenStep[] };
  /** Triggers in effect in every phase (each phase's {@link PhaseStep.triggers} lists them too). */
  triggers: TriggerStep[];
  phases: PhaseStep[];
  afterFull?: {
    stabilization?: { duration: string; minDuration?: string; tasks: string[]; gates: DescribedCheck[] };
    successCriteria?: { over: string; checks: DescribedCheck[] };
    /** Steps run once, in order, after full cutover. */
    refreeze: string[];
  };
  rollback: { target: Plan['rollback']['target']; verify?: { within: string; checks: DescribedCheck[] }; tasks: string[] };
  controls: string[];
  notifications: string[];
  /** The sum of every phase's minimum duration: the earliest the last phase's minimum has passed. */
  minimumTotalMs: number;
  minimumTotal: string;
  /**
   * What the rollout waits for beyond the minimum durations, each with where: "precondition ci-green (before phase 1)",
   * "cfo approval (phase 2)". The real duration is the minimum plus these waits.
   */
  waitsFor: string[];
}

/** Builds the timeline of a validated plan. */
export function planTimeline(plan: Plan): PlanTimeline {
  const compiled = compilePlan(plan);
  const context: DescribeContext = plan;
  const described = (check: CheckDef): DescribedCheck => ({
    name: check.name,
    text: describeCondition(check.when, context),
    ...(check.description ? { description: check.description } : {}),
    ...(check.when.source ? { source: check.when.source } : {}),
  });
  const checkNamed = (name: string): DescribedCheck => {
    const check = plan.checks.find((c) => c.name === name);
    return check ? described(check) : { name, text: '(not declared)' };
  };
  const token = (t: TokenDef): TokenStep => ({
    id: t.id,
    role: t.role,
    requires: t.requires.map(checkNamed),
    onUnmet: t.onUnmet,
    ...(t.source ? { source: t.source } : {}),
  });
  const trigger = (t: TriggerDef, scope: TriggerStep['scope']): TriggerStep => ({
    name: t.name,
    scope,
    action: t.action,
    ...(t.severity ? { severity: t.severity } : {}),
    text: describeTrigger(t, context),
    runbook: (t.tasks ?? []).map((task) => `${task.name}: ${describeStep(task)}`),
    ...(t.source ? { source: t.source } : {}),
  });

  const firstPhase = plan.phases[0]?.name;
  const tokensBefore = (phase: string) => plan.tokens.filter((t) => (t.before ?? firstPhase) === phase).map(token);

  let elapsed = 0;
  const phases = plan.phases.map((p, i): PhaseStep => {
    const minMs = (p.minDuration === undefined ? undefined : tryParseDuration(p.minDuration)) ?? 0;
    const start = elapsed;
    elapsed += minMs;
    const tokens = i === 0 ? [] : tokensBefore(p.name);
    const approvals = (p.approvals ?? []).map(
      (a): ApprovalStep => ({
        role: a.role,
        quorum: a.quorum,
        at: a.at,
        signatureRequired: approvalNeedsSignature(a, context),
        ...(a.expiresAfter ? { expiresAfter: a.expiresAfter } : {}),
        text: describeApproval(a, context),
        ...(a.source ? { source: a.source } : {}),
      }),
    );
    const until = (p.until ?? []).map(checkNamed);
    const waitsFor = [
      ...(i === 0 ? tokensBefore(p.name) : tokens).map((t) => `token ${t.id}`),
      ...approvals.map((a) => `${a.role} approval`),
      ...until.map((c) => `check ${c.name}`),
      ...(p.tasks ?? []).filter((t) => t.required).map((t) => `task ${t.name}`),
    ];
    return {
      number: i + 1,
      name: p.name,
      ...(p.description ? { description: p.description } : {}),
      percent: p.percent,
      cohorts: (p.cohorts ?? []).map((c) => `${c.name}${c.percent === undefined ? '' : ` (${c.percent}%)`}${c.segment ? `: ${c.segment}` : ''}`),
      ...(p.minDuration ? { minDuration: p.minDuration } : {}),
      ...(p.maxDuration ? { maxDuration: p.maxDuration } : {}),
      earliestStartMs: start,
      earliestStart: formatSpan(start),
      earliestEndMs: elapsed,
      earliestEnd: formatSpan(elapsed),
      permanent: p.permanent,
      calendar: describeCalendar(p),
      tokens,
      until,
      entry: (p.entry ?? []).map(described),
      // The machine decides which gates and triggers apply; the timeline lists the same ones.
      gates: (compiled.phases[i]?.gates ?? []).map(({ check }) => ({ ...described(check), shared: !(p.gates ?? []).includes(check) })),
      approvals,
      triggers: (compiled.phases[i]?.triggers ?? []).map((t) => trigger(t.trigger, (p.triggers ?? []).includes(t.trigger) ? 'phase' : 'rollout')),
      configChanges: (p.configChanges ?? []).map(
        (c) => `${c.key}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}${c.provider ? ` (in ${c.provider})` : ''}`,
      ),
      tasks: (p.tasks ?? []).map((t) => `${t.name}: ${describeTask(t)}`),
      budgets: plan.budgets
        .filter((b) => b.phases.includes(p.name))
        .map((b) => {
          const cosign = b.cosign ? `; above ${b.cosign.above ?? b.limit} ${b.currency} co-signed by ${b.cosign.role}` : '';
          return `${b.name}: ${b.limit} ${b.currency}${b.preApproved ? ', pre-approved' : ''}${cosign}`;
        }),
      waitsFor,
      ...(p.source ? { source: p.source } : {}),
    };
  });

  const after = plan.afterFull;
  const c = plan.controls;
  const a = plan.analysis;
  return {
    id: plan.id,
    name: plan.name,
    ...(plan.runId ? { runId: plan.runId } : {}),
    ...(plan.owner ? { owner: plan.owner } : {}),
    ...(plan.description ? { description: plan.description } : {}),
    target: plan.target,
    analysis:
      `every ${a.interval}; data missing for ${a.inconclusiveLimit} → ${a.onInconclusive}; ` +
      `${a.consecutiveErrorLimit} metric source error(s) in a row → ${a.onError}`,
    beforeStart: { preconditions: plan.preconditions.map(checkNamed), tokens: firstPhase === undefined ? [] : tokensBefore(firstPhase) },
    triggers: plan.triggers.map((t) => trigger(t, 'rollout')),
    phases,
    ...(after
      ? {
          afterFull: {
            ...(after.stabilization
              ? {
                  stabilization: {
                    duration: after.stabilization.duration,
                    ...(after.stabilization.minDuration ? { minDuration: after.stabilization.minDuration } : {}),
                    tasks: after.stabilization.tasks.map((t) => `${t.name}: ${describeTask(t)}`),
                    gates: (after.stabilization.gates ?? []).map(described),
                  },
                }
              : {}),
            ...(after.successCriteria
              ? { successCriteria: { over: after.successCriteria.over, checks: after.successCriteria.checks.map(described) } }
              : {}),
            refreeze: (after.refreeze ?? []).map((t) => `${t.name}: ${describeStep(t)}`),
          },
        }
      : {}),
    rollback: {
      target: plan.rollback.target,
      ...(plan.rollback.verify ? { verify: { within: plan.rollback.verify.within, checks: plan.rollback.verify.checks.map(described) } } : {}),
      tasks: (plan.rollback.tasks ?? []).map((t) => `${t.name}: ${describeStep(t)}`),
    },
    controls: [
      ...(c.killSwitch ? [`kill switch: flag ${c.killSwitch.flag}`] : []),
      ...(c.cohortFlag ? [`per-cohort flags: ${c.cohortFlag}`] : []),
      ...(c.circuitBreaker ? [`circuit breaker: ${c.circuitBreaker.consecutiveErrors} consecutive errors → ${describeAction({ action: c.circuitBreaker.action })}`] : []),
      ...(c.forcePromote ? [`force promote to 100%: ${c.forcePromote.roles.join(', ')}`] : []),
      ...(c.operators ? [`operators (pause, resume, roll back): ${c.operators.join(', ')}`] : []),
    ],
    notifications: plan.notifications.map((n) => `on ${n.on.join(', ')} → ${n.channels.join(', ')}`),
    minimumTotalMs: elapsed,
    minimumTotal: formatSpan(elapsed),
    waitsFor: [
      ...plan.preconditions.map((name) => `precondition ${name} (before phase 1)`),
      ...phases.flatMap((p) => p.waitsFor.map((w) => `${w} (phase ${p.number})`)),
    ],
  };
}

function describeCalendar(phase: PhaseDef): string[] {
  const calendar = phase.calendar;
  if (!calendar) return [];
  const lines: string[] = [];
  for (const window of calendar.allowedWindows ?? []) {
    const days = window.days ? `${window.days.join(', ')} ` : '';
    lines.push(`changes only ${days}${window.from}–${window.to} (${calendar.timezone})`);
  }
  if (calendar.endOfDay) lines.push(`may also end at end of day, ${calendar.endOfDay} (${calendar.timezone}), before its minimum duration`);
  return lines;
}
