/**
 * Evaluates one condition of a plan at one moment: true, false, inconclusive (no data, invalid data, not enough
 * samples) or error (the source is down). Pure; sustain semantics ("for 10m", N consecutive windows) are layered on
 * top by the machine (see sustain.ts).
 */
import type { ConditionDef, Plan } from './plan-schema';
import { formatDuration, tryParseDuration } from './duration';
import { meanAndStdDevSince } from './statistics';
import type { MetricReading, Millis, RolloutState } from './types';

export type ConditionResult = 'true' | 'false' | 'inconclusive' | 'error';

export interface Verdict {
  result: ConditionResult;
  /** In words, with the value against the threshold: "p95_latency_ms = 612 ms, needs <= 500". */
  detail: string;
  value?: number;
}

export interface EvalContext {
  plan: Plan;
  state: RolloutState;
  now: Millis;
  /** The readings of the observation being evaluated; undefined when evaluating on a non-metric event. */
  readings?: Record<string, MetricReading>;
  /** Start of the current phase (incident scope "phase", freshness before the first event). */
  phaseStart: Millis;
}

/**
 * A condition's durations and counts in numbers, parsed once when the plan is compiled (src/plan/compile.ts): how far
 * back an anomaly looks, the gap a freshness or absence rule allows, the incident window, and the sustain rule —
 * `for`, N consecutive windows of a length, or a total of failed measurements — and its own evaluation interval.
 */
export interface ConditionTiming {
  lookbackMs?: number;
  /** freshness: the allowed gap (`maxGap`); absence: how long absent fires (`longerThan`). */
  gapMs?: number;
  withinMs?: number;
  forMs?: number;
  windowMs?: number;
  windows?: number;
  failureLimit?: number;
  /** The condition's own `interval`: it is judged at that cadence. */
  everyMs?: number;
}

const msOf = (text: string | undefined): number | undefined => (text === undefined ? undefined : (tryParseDuration(text) ?? 0));

/** The timing of `cond`, parsed now: the compiler does this once per condition; other readers when they need it. */
export function conditionTiming(cond: ConditionDef): ConditionTiming {
  const timing: ConditionTiming = {};
  if ('interval' in cond && cond.interval !== undefined) timing.everyMs = msOf(cond.interval);
  switch (cond.kind) {
    case 'anomaly':
      timing.lookbackMs = msOf(cond.lookback);
      break;
    case 'freshness':
      timing.gapMs = msOf(cond.maxGap);
      break;
    case 'absence':
      timing.gapMs = msOf(cond.longerThan);
      break;
    case 'incidents':
      timing.withinMs = msOf(cond.within);
      break;
  }
  if (cond.kind === 'threshold' || cond.kind === 'relative' || cond.kind === 'anomaly') {
    if (cond.for !== undefined) timing.forMs = msOf(cond.for);
    if (cond.window !== undefined) timing.windowMs = msOf(cond.window);
    if (cond.consecutiveWindows !== undefined) timing.windows = cond.consecutiveWindows;
    if (cond.failureLimit !== undefined) timing.failureLimit = cond.failureLimit;
  }
  return timing;
}

/** The metric names a condition reads, for deciding what to observe. */
export function metricsOf(cond: ConditionDef): string[] {
  switch (cond.kind) {
    case 'threshold':
    case 'anomaly':
    case 'freshness':
    case 'absence':
      return [cond.metric];
    case 'relative':
      return 'metric' in cond.baseline ? [cond.metric, cond.baseline.metric] : [cond.metric];
    case 'diff':
      return [cond.canary, cond.stable, ...(cond.samplesMetric ? [cond.samplesMetric] : [])];
    case 'value':
      return cond.from === 'metric' ? [cond.name] : [];
    default:
      return [];
  }
}

/** Compares with a plan operator. */
export function compare(value: number, op: '<' | '<=' | '>' | '>=' | '==' | '!=', threshold: number): boolean {
  switch (op) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

const thresholdDetails = new WeakMap<ConditionDef, { value: number; detail: string }>();

/** ` <unit>` of a metric as the plan declares it, or nothing. */
function unitOf(plan: Plan, metric: string): string {
  const name = plan.metrics[metric]?.unit;
  return name ? ` ${name}` : '';
}

// Details are written on every evaluation and metric values repeat: format each number once.
const formatted = new Map<number, string>();

function fmt(value: number): string {
  let text = formatted.get(value);
  if (text === undefined) {
    if (formatted.size > 10_000) formatted.clear();
    formatted.set(value, (text = Number.isInteger(value) ? String(value) : String(+value.toPrecision(4))));
  }
  return text;
}

/** A reading that is not a usable number becomes inconclusive or error, with the reason. */
function reading(ctx: EvalContext, metric: string): { value: number; samples?: number } | Verdict {
  const r = ctx.readings?.[metric];
  if (!r) return { result: 'inconclusive', detail: `${metric}: not observed` };
  switch (r.status) {
    case 'ok':
      return Number.isFinite(r.value)
        ? { value: r.value, samples: r.samples }
        : { result: 'inconclusive', detail: `${metric}: invalid value ${String(r.value)}` };
    case 'no-data':
      return { result: 'inconclusive', detail: `${metric}: no data` };
    case 'invalid':
      return { result: 'inconclusive', detail: `${metric}: invalid data (${r.detail})` };
    case 'error':
      return { result: 'error', detail: `${metric}: source error (${r.detail})` };
  }
}

const isVerdict = (x: unknown): x is Verdict => typeof x === 'object' && x !== null && 'result' in x;

/** Evaluates `cond` now, with its `timing` as compiled (or parsed now when the caller has none). */
export function evaluateCondition(cond: ConditionDef, ctx: EvalContext, timing: ConditionTiming = conditionTiming(cond)): Verdict {
  const { plan, state, now } = ctx;
  switch (cond.kind) {
    case 'threshold': {
      const r = reading(ctx, cond.metric);
      if (isVerdict(r)) return r;
      const ok = compare(r.value, cond.op, cond.value);
      // Metrics often hold still: the words for the last value read are kept per condition.
      const last = thresholdDetails.get(cond);
      let detail = last?.value === r.value ? last.detail : undefined;
      if (detail === undefined) {
        detail = `${cond.metric} = ${fmt(r.value)}${unitOf(plan, cond.metric)} (condition ${cond.op} ${fmt(cond.value)})`;
        thresholdDetails.set(cond, { value: r.value, detail });
      }
      return { result: ok ? 'true' : 'false', value: r.value, detail };
    }
    case 'relative': {
      const r = reading(ctx, cond.metric);
      if (isVerdict(r)) return r;
      let baseline: number | undefined;
      let baselineName: string;
      if ('metric' in cond.baseline) {
        const b = reading(ctx, cond.baseline.metric);
        if (isVerdict(b)) return b;
        baseline = b.value;
        baselineName = cond.baseline.metric;
      } else if ('capture' in cond.baseline) {
        baseline = state.baselines[`${cond.baseline.capture}:${cond.metric}`];
        baselineName = `baseline captured ${cond.baseline.capture}`;
        if (baseline === undefined) return { result: 'inconclusive', detail: `${cond.metric}: no ${baselineName} yet` };
      } else {
        baseline = cond.baseline.value;
        baselineName = 'fixed baseline';
      }
      const limit = baseline * cond.factor;
      const ok = compare(r.value, cond.op, limit);
      return {
        result: ok ? 'true' : 'false',
        value: r.value,
        detail: `${cond.metric} = ${fmt(r.value)}${unitOf(plan, cond.metric)} vs ${fmt(cond.factor)}× ${baselineName} ${fmt(baseline)} = ${fmt(limit)} (condition ${cond.op})`,
      };
    }
    case 'anomaly': {
      const r = reading(ctx, cond.metric);
      if (isVerdict(r)) return r;
      const since = now - (timing.lookbackMs ?? 0);
      // The current value is judged against the history before it (newest last; read back to the lookback).
      const { count, mean, stdDev } = meanAndStdDevSince(state.history[cond.metric] ?? [], since, now);
      if (count < cond.minSamples) {
        return { result: 'inconclusive', value: r.value, detail: `${cond.metric}: ${count} of ${cond.minSamples} samples for a baseline` };
      }
      const delta = r.value - mean;
      // With no spread in the history any change is infinitely many σ — in its own direction: a drop is never a spike
      // "above" (rollouts started before trust-v2 judged every change as +∞σ, as their histories recorded).
      const infinite = state.trustV2 ? Math.sign(delta) * Infinity : Infinity;
      const deviation = stdDev === 0 ? (delta === 0 ? 0 : infinite) : delta / stdDev;
      const beyondSigma =
        cond.direction === 'above' ? deviation > cond.sigma : cond.direction === 'below' ? -deviation > cond.sigma : Math.abs(deviation) > cond.sigma;
      const needed = minimumEffect(cond.minDelta, mean);
      const bigEnough = needed === undefined || Math.abs(delta) >= needed;
      const deviationText = Number.isFinite(deviation) ? fmt(deviation) : deviation < 0 ? '-∞' : '∞';
      return {
        result: beyondSigma && bigEnough ? 'true' : 'false',
        value: r.value,
        detail: `${cond.metric} = ${fmt(r.value)} is ${deviationText}σ from mean ${fmt(mean)} (condition ${cond.direction} ${fmt(cond.sigma)}σ${
          needed === undefined ? '' : `, at least ${fmt(needed)} away${beyondSigma && !bigEnough ? ': too small to count' : ''}`
        })`,
      };
    }
    case 'freshness':
    case 'absence': {
      const r = ctx.readings?.[cond.metric];
      if (r?.status === 'error') return { result: 'error', detail: `${cond.metric}: source error (${r.detail})` };
      const last = state.lastEventAt[cond.metric] ?? ctx.phaseStart;
      const gap = Math.max(0, now - last);
      const limit = timing.gapMs ?? 0;
      const absent = gap > limit;
      const gapText = `${cond.metric}: last events ${gap === 0 ? 'just now' : `${formatDuration(Math.floor(gap / 1000) * 1000) || '0s'} ago`}`;
      return cond.kind === 'freshness'
        ? { result: absent ? 'false' : 'true', value: gap, detail: `${gapText} (allowed gap ${cond.maxGap})` }
        : { result: absent ? 'true' : 'false', value: gap, detail: `${gapText} (absent longer than ${cond.longerThan} fires)` };
    }
    case 'incidents': {
      const from = Math.max(cond.scope === 'phase' ? ctx.phaseStart : state.startedAt, cond.within ? now - (timing.withinMs ?? 0) : -Infinity);
      const counts: Record<string, number> = {};
      for (const incident of state.incidents) {
        if (incident.at >= from) counts[incident.severity] = (counts[incident.severity] ?? 0) + 1;
      }
      const countText = Object.keys({ ...cond.atMost, ...cond.atLeast })
        .map((sev) => `${sev}: ${counts[sev] ?? 0}`)
        .join(', ');
      if (cond.atLeast) {
        const hit = Object.entries(cond.atLeast).find(([sev, min]) => (counts[sev] ?? 0) >= min);
        if (hit) return { result: 'true', detail: `incidents ${countText} (${hit[0]} reached ${hit[1]})` };
      }
      if (cond.atMost) {
        const over = Object.entries(cond.atMost).find(([sev, max]) => (counts[sev] ?? 0) > max);
        return over
          ? { result: 'false', detail: `incidents ${countText} (${over[0]} above ${over[1]})` }
          : { result: 'true', detail: `incidents ${countText} (within limits)` };
      }
      return { result: 'false', detail: `incidents ${countText}` };
    }
    case 'diff': {
      const c = reading(ctx, cond.canary);
      if (isVerdict(c)) return c;
      const s = reading(ctx, cond.stable);
      if (isVerdict(s)) return s;
      let samples = c.samples;
      if (cond.samplesMetric) {
        const n = reading(ctx, cond.samplesMetric);
        if (isVerdict(n)) return n;
        samples = n.value;
      }
      if (samples === undefined || samples < cond.minSamples) {
        return { result: 'inconclusive', detail: `canary diff: ${samples ?? 0} of ${cond.minSamples} samples compared` };
      }
      const diff = s.value === 0 ? Math.abs(c.value) : Math.abs(c.value - s.value) / Math.abs(s.value);
      return {
        result: diff <= cond.tolerance ? 'true' : 'false',
        value: diff,
        detail: `canary diff ${fmt(diff * 100)}% over ${samples} samples (tolerance ${fmt(cond.tolerance * 100)}%)`,
      };
    }
    case 'value': {
      let actual: string | number | boolean | undefined;
      if (cond.from === 'reported') actual = state.reported[cond.name];
      else if (cond.from === 'flag') actual = state.flagValues[cond.name];
      else {
        const r = reading(ctx, cond.name);
        actual = isVerdict(r) ? state.latest[cond.name]?.value : r.value;
      }
      if (actual === undefined) return { result: 'false', detail: `${cond.name} is not reported yet (needs ${String(cond.equals)})` };
      // Reported values arrive as text from CLIs and UIs: "1" equals 1. A flag read as a number is true when it is on.
      const equal = typeof cond.equals === 'boolean' && typeof actual === 'number' ? actual > 0 === cond.equals : String(actual) === String(cond.equals);
      return { result: equal ? 'true' : 'false', detail: `${cond.name} is ${String(actual)} (needs ${String(cond.equals)})` };
    }
    case 'attestation': {
      const a = state.attestations[cond.check];
      return a
        ? { result: 'true', detail: `${cond.check} attested by ${a.by}` }
        : { result: 'false', detail: `${cond.check} not attested yet${cond.role ? ` (by ${cond.role})` : ''}` };
    }
    case 'approval': {
      const approvers = validApprovers(state, cond.role, `check:${cond.role}`, undefined, now, true);
      return {
        result: approvers.length >= cond.quorum ? 'true' : 'false',
        detail: `${cond.role} sign-offs ${approvers.length} of ${cond.quorum}`,
      };
    }
    case 'http':
    case 'command': {
      return checkVerdict(state, checkKey(cond), cond.kind === 'http' ? `${cond.method} ${cond.url}` : cond.run);
    }
    case 'alert': {
      const firing = Object.entries(state.alerts).find(
        ([key, a]) => key.split('|')[0] === cond.alert && Object.entries(cond.labels ?? {}).every(([k, v]) => a.labels[k] === v),
      );
      return firing ? { result: 'true', detail: `alert ${cond.alert} firing` } : { result: 'false', detail: `alert ${cond.alert} not firing` };
    }
    case 'budget': {
      const b = plan.budgets.find((x) => x.name === cond.budget);
      if (!b) return { result: 'error', detail: `budget ${cond.budget} missing` };
      const spent = state.spend[b.name] ?? 0;
      if (spent <= b.limit) return { result: 'true', detail: `${b.name} spend ${b.currency} ${fmt(spent)} of ${fmt(b.limit)}` };
      const cosigned = b.cosign && validApprovers(state, b.cosign.role, `budget:${b.name}`, undefined, now, false).length > 0;
      return cosigned
        ? { result: 'true', detail: `${b.name} spend ${b.currency} ${fmt(spent)} over ${fmt(b.limit)}, co-signed by ${b.cosign?.role}` }
        : { result: 'false', detail: `${b.name} spend ${b.currency} ${fmt(spent)} over ${fmt(b.limit)}${b.cosign ? `: needs ${b.cosign.role} co-sign` : ''}` };
    }
  }
}

/** The key under which a http/command check's latest result is stored. */
export function checkKey(cond: Extract<ConditionDef, { kind: 'http' | 'command' }>): string {
  // The expectation is part of the key: the same command may be expected to exit 0 in one place and 3 in another.
  return cond.kind === 'http' ? `http:${cond.method} ${cond.url} → ${cond.expectStatus}` : `command:${cond.run} → exit ${cond.expectExit}`;
}

function checkVerdict(state: RolloutState, key: string, what: string): Verdict {
  const r = state.checkResults[key];
  if (!r) return { result: 'inconclusive', detail: `${what}: not run yet` };
  return { result: r.ok ? 'true' : 'false', detail: `${what}: ${r.ok ? 'passed' : 'failed'}${r.detail ? ` (${r.detail})` : ''}` };
}

/**
 * Distinct members of `role` whose latest decision on `subject` is an unexpired approval.
 * `anySubject` counts approvals for the role whatever their subject (governance sign-offs).
 */
export function validApprovers(
  state: RolloutState,
  role: string,
  subject: string,
  expiresAfterMs: number | undefined,
  now: Millis,
  anySubject: boolean,
): string[] {
  const latest = new Map<string, { decision: 'approve' | 'reject'; at: Millis }>();
  for (const a of state.approvals) {
    if (a.role !== role || (!anySubject && a.subject !== subject)) continue;
    latest.set(a.by, { decision: a.decision, at: a.at });
  }
  return [...latest.entries()]
    .filter(([, a]) => a.decision === 'approve' && (expiresAfterMs === undefined || now - a.at <= expiresAfterMs))
    .map(([by]) => by);
}

/** The smallest difference from the mean an anomaly counts: `minDelta` as given, or as a share of the mean ("20%"). */
function minimumEffect(minDelta: number | string | undefined, mean: number): number | undefined {
  if (minDelta === undefined) return undefined;
  if (typeof minDelta === 'number') return minDelta;
  return (Math.abs(mean) * Number(minDelta.slice(0, -1))) / 100;
}
