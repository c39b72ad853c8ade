/**
 * Plan constructs in words, for `canary plan`, approval prompts and the ops log: a condition becomes
 * `p95_latency_ms <= 500 ms in 3 consecutive 5m windows`, a task `every 15m: snapshot of p95_latency_ms`.
 *
 * Pure; imports only plan types and domain helpers. Durations are shown as the plan wrote them.
 */
import { formatDuration } from '../domain/duration';
import type { ApprovalRequirementDef, ConditionDef, Plan, TaskDef, TriggerDef } from './schema';

/** What describing a condition may look up in its plan: metric units and budget limits. */
export type DescribeContext = Pick<Plan, 'metrics' | 'budgets' | 'roles'>;

const EMPTY_CONTEXT: DescribeContext = { metrics: {}, budgets: [], roles: {} };

/**
 * Describes a condition in one line, with its thresholds, units (from the metric's `unit`) and how long it must hold.
 * Without a context, values are shown without units.
 */
export function describeCondition(cond: ConditionDef, context: DescribeContext = EMPTY_CONTEXT): string {
  const withUnit = (metric: string, value: number) => quantity(value, context.metrics[metric]?.unit);
  switch (cond.kind) {
    case 'threshold':
      return `${cond.metric} ${cond.op} ${withUnit(cond.metric, cond.value)}${describeSustain(cond)}`;
    case 'relative':
      return `${cond.metric} ${cond.op} ${cond.factor}× ${describeBaseline(cond.baseline, cond.metric, context)}${describeSustain(cond)}`;
    case 'anomaly': {
      const direction = cond.direction === 'either' ? 'above or below' : cond.direction;
      return `${cond.metric} ${cond.sigma}σ or more ${direction} its mean over ${cond.lookback} (at least ${cond.minSamples} samples)${describeSustain(cond)}`;
    }
    case 'freshness':
      return `${cond.metric} keeps arriving, with no gap longer than ${cond.maxGap}`;
    case 'absence':
      return `no ${cond.metric} for longer than ${cond.longerThan}`;
    case 'incidents': {
      const parts: string[] = [];
      if (cond.atMost) parts.push(`at most ${severityList(cond.atMost, ', ')}`);
      if (cond.atLeast) parts.push(`at least ${severityList(cond.atLeast, ' or ')}`);
      const scope = cond.scope === 'phase' ? 'in this phase' : 'in the rollout';
      const within = cond.within ? `, last ${cond.within}` : '';
      return `${parts.join(' and ')} incident(s) ${scope}${within}`;
    }
    case 'diff': {
      const samples = cond.samplesMetric ? ` (counted by ${cond.samplesMetric})` : '';
      return `${cond.canary} differs from ${cond.stable} by at most ${percentOf(cond.tolerance)}, over at least ${cond.minSamples} samples${samples}`;
    }
    case 'value': {
      const what = cond.from === 'reported' ? 'reported value' : cond.from;
      return `${what} ${cond.name} = ${JSON.stringify(cond.equals)}`;
    }
    case 'attestation':
      return `"${cond.check}" attested${cond.role ? ` by a member of ${cond.role}` : ''}${cond.description ? ` (${cond.description})` : ''}`;
    case 'approval':
      return `approved by ${cond.quorum === 1 ? 'a member' : `${cond.quorum} members`} of ${cond.role}`;
    case 'http':
      return `${cond.method} ${cond.url} answers ${cond.expectStatus} within ${cond.timeout}`;
    case 'command':
      return `\`${cond.run}\` exits ${cond.expectExit} within ${cond.timeout}`;
    case 'alert': {
      const labels = cond.labels ? ` {${Object.entries(cond.labels).map(([k, v]) => `${k}="${v}"`).join(', ')}}` : '';
      return `alert ${cond.alert}${labels} is firing`;
    }
    case 'budget': {
      const budget = context.budgets.find((b) => b.name === cond.budget);
      return `spend within budget ${cond.budget}${budget ? ` (${budget.limit} ${budget.currency})` : ''}`;
    }
  }
}

/** " in 3 consecutive 5m windows", " for 10m", " over a 5m window", plus the evaluation interval; "" when unset. */
export function describeSustain(cond: { window?: string; for?: string; consecutiveWindows?: number; interval?: string }): string {
  let text = '';
  if (cond.for !== undefined) text = ` for ${cond.for}`;
  else if (cond.consecutiveWindows !== undefined) {
    const window = cond.window === undefined ? '' : ` ${cond.window}`;
    text = cond.consecutiveWindows === 1 ? ` in a${window} window` : ` in ${cond.consecutiveWindows} consecutive${window} windows`;
  } else if (cond.window !== undefined) text = ` over a ${cond.window} window`;
  if (cond.interval !== undefined) text += `, checked every ${cond.interval}`;
  return text;
}

/**
 * Describes a trigger: its condition, then what it does (`→ hold, decided by ceo; after 4h: rollback`) and whom it
 * tells.
 */
export function describeTrigger(trigger: TriggerDef, context: DescribeContext = EMPTY_CONTEXT): string {
  return `${describeCondition(trigger.when, context)} → ${describeAction(trigger)}${trigger.notify?.length ? `; notify ${trigger.notify.join(', ')}` : ''}`;
}

/** The action of a trigger in words, with its hold policy when the action is hold. */
export function describeAction(trigger: Pick<TriggerDef, 'action' | 'hold'>): string {
  if (trigger.action !== 'hold' || !trigger.hold) return trigger.action;
  const parts = ['hold'];
  if (trigger.hold.decidedBy) parts.push(`decided by ${trigger.hold.decidedBy.join(' or ')}`);
  if (trigger.hold.timeout) parts.push(`undecided after ${trigger.hold.timeout}: ${trigger.hold.default}`);
  return parts.join(', ');
}

/**
 * Describes an approval requirement: `2 approvals by cfo, signature required, to enter; expires after 24h; escalates
 * after 2h to exec`. Whether a signature is needed comes from the requirement, else from the role.
 */
export function describeApproval(approval: ApprovalRequirementDef, context: DescribeContext = EMPTY_CONTEXT): string {
  const parts = [`${approval.quorum} approval${approval.quorum === 1 ? '' : 's'} by ${approval.role}`];
  if (approvalNeedsSignature(approval, context)) parts.push('signature required');
  parts.push(approval.at === 'enter' ? 'to enter' : 'to leave');
  let text = parts.join(', ');
  if (approval.reason) text += ` — ${approval.reason}`;
  if (approval.expiresAfter) text += `; expires after ${approval.expiresAfter}`;
  if (approval.escalate) text += `; escalates after ${approval.escalate.after} to ${approval.escalate.to.join(', ')}`;
  return text;
}

/** True when approvals under this requirement must be signed: the requirement's setting, else its role's. */
export function approvalNeedsSignature(approval: ApprovalRequirementDef, context: DescribeContext): boolean {
  return approval.signatureRequired ?? context.roles[approval.role]?.signatureRequired ?? false;
}

/** Describes a task: when it runs, what it runs, and whether the phase waits for it. */
export function describeTask(task: TaskDef): string {
  const repeat = task.repeatFor ? ` for ${task.repeatFor}` : '';
  const when =
    task.on === 'every' ? `every ${task.every ?? '?'}${repeat}` : task.on === 'daily' ? `daily at ${task.at ?? '?'}${repeat}` : `on ${task.on}`;
  return `${when}: ${describeStep(task)}${task.required ? ' (required to advance)' : ''}`;
}

/** Describes what a task does, without when: for steps run once, in order (re-freeze, a trigger's runbook). */
export function describeStep(task: Pick<TaskDef, 'run' | 'description'>): string {
  const run = task.run;
  let what: string;
  switch (run.type) {
    case 'command':
      what = `run \`${run.command}\` (timeout ${run.timeout})`;
      break;
    case 'http':
      what = `${run.method} ${run.url}`;
      break;
    case 'notify':
      what = `notify ${run.channels.join(', ')}: "${run.message}"`;
      break;
    case 'snapshot':
      what = run.metrics?.length ? `snapshot of ${run.metrics.join(', ')}` : 'snapshot of all metrics';
      break;
    case 'manual':
      what = `manual${run.role ? ` by ${run.role}` : ''}`;
      break;
  }
  return `${what}${task.description ? ` — ${task.description}` : ''}`;
}

/**
 * Formats a span of time for timelines, with hours as the largest unit so totals read the way plans state them:
 * 108000000 → "30h", 5400000 → "1h30m"; from 48 hours on, the days follow: "72h (3d)".
 */
export function formatSpan(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  if (hours === 0) return formatDuration(ms);
  const rest = ms - hours * 3_600_000;
  const text = `${hours}h${rest > 0 ? formatDuration(rest) : ''}`;
  return hours >= 48 ? `${text} (${formatDuration(ms)})` : text;
}

function quantity(value: number, unit: string | undefined): string {
  if (!unit) return String(value);
  // Symbols attach to the number ("1%", "3/5"); words are spaced ("500 ms").
  if (/^[^A-Za-z]/.test(unit)) return `${value}${unit}`;
  // A ratio reads better with its percentage: 0.005 (0.5%).
  if (unit === 'ratio') return `${value} (${percentOf(value)})`;
  return `${value} ${unit}`;
}

function percentOf(ratio: number): string {
  // 0.005 → "0.5%"; rounding keeps floating-point noise (0.5000000001%) out of the text.
  return `${Number((ratio * 100).toPrecision(10))}%`;
}

function severityList(counts: Record<string, number>, joiner: string): string {
  return Object.entries(counts)
    .map(([severity, count]) => `${count} ${severity}`)
    .join(joiner);
}

function describeBaseline(
  baseline: Extract<ConditionDef, { kind: 'relative' }>['baseline'],
  metric: string,
  context: DescribeContext,
): string {
  if ('metric' in baseline) return baseline.metric;
  if ('capture' in baseline) return baseline.capture === 'before-rollout' ? 'its value before the rollout' : 'its value at phase start';
  return `the baseline ${quantity(baseline.value, context.metrics[metric]?.unit)}`;
}
