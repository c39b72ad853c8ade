/**
 * The plan format's conditions and named checks: the one language of gates, triggers, preconditions, entry and exit
 * criteria and success criteria. Part of the plan format (./index.ts).
 */
import { z } from 'zod';
import { Comparison, Duration, MAX_CONSECUTIVE_WINDOWS, Name, Period, Source, Timeout } from './primitives';
// ---------------------------------------------------------------------------------------------------------------
// Conditions: the one language of gates, triggers, preconditions, entry/exit criteria and success criteria.
// A condition is true or false when evaluated; missing or bad data makes it inconclusive, never true.

/** How long a condition must hold: for a duration, or over N consecutive windows. */
const Sustain = {
  window: Period.optional().meta({ description: 'The window each evaluation looks at (e.g. a 5-minute window); at least 1s.' }),
  for: Duration.optional().meta({ description: 'The condition must hold continuously this long ("sustained > 10 minutes").' }),
  consecutiveWindows: z
    .number()
    .int()
    .min(1)
    .max(MAX_CONSECUTIVE_WINDOWS)
    .optional()
    .meta({ description: 'The condition must hold in this many consecutive windows ("three consecutive 5-minute windows"); 1 to 1000.' }),
  interval: Period.optional().meta({ description: 'How often to evaluate; defaults to analysis.interval; at least 1s.' }),
  failureLimit: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .meta({
      description:
        "Triggers only: fire once the condition has held in this many evaluations in total, consecutive or not (Argo Rollouts' failureLimit, Flagger's threshold of failed checks); not together with for or consecutiveWindows.",
    }),
  failureScope: z
    .enum(['phase', 'rollout'])
    .optional()
    .meta({ description: 'What failureLimit counts over: the current phase (default; the count starts again in each phase) or the whole rollout.' }),
};

const ThresholdCondition = z.strictObject({
  kind: z.literal('threshold'),
  metric: Name,
  op: Comparison,
  value: z.number(),
  ...Sustain,
  source: Source,
});

const BaselineRef = z.union([
  z.strictObject({ metric: Name.meta({ description: 'Compare with this metric live (e.g. the stable cohort).' }) }),
  z.strictObject({
    capture: z.enum(['before-rollout', 'phase-start']).meta({ description: 'Use the same metric as it was at this moment.' }),
  }),
  z.strictObject({ value: z.number().meta({ description: 'A fixed baseline established beforehand.' }) }),
]);

const RelativeCondition = z.strictObject({
  kind: z.literal('relative'),
  metric: Name,
  op: Comparison,
  factor: z.number().positive().meta({ description: '1.1 means 110% of baseline; 5 means 5x baseline.' }),
  baseline: BaselineRef,
  ...Sustain,
  source: Source,
});

const AnomalyCondition = z.strictObject({
  kind: z.literal('anomaly'),
  metric: Name,
  sigma: z.number().positive().meta({ description: 'True when the value deviates this many standard deviations.' }),
  direction: z.enum(['above', 'below', 'either']).default('above'),
  lookback: Period.meta({ description: 'History the mean and standard deviation are computed over; at least 1s.' }),
  minSamples: z.number().int().min(2).default(10).meta({ description: 'Samples in the lookback before it can fire at all.' }),
  minDelta: z
    .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?%$/, 'a number, or a percentage such as "20%"')])
    .optional()
    .meta({
      description:
        'The smallest effect that counts, however many σ it is: an absolute difference from the mean (50) or a share of the mean ("20%"). Keeps a quiet metric with a tiny spread from firing on ordinary noise.',
    }),
  ...Sustain,
  source: Source,
});

const FreshnessCondition = z.strictObject({
  kind: z.literal('freshness'),
  metric: Name.meta({ description: 'An event count or rate; a value above 0 means events arrived.' }),
  maxGap: Period.meta({ description: 'True while events arrived within this gap ("no gaps > 10 minutes"); at least 1s.' }),
  source: Source,
});

const AbsenceCondition = z.strictObject({
  kind: z.literal('absence'),
  metric: Name,
  longerThan: Period.meta({ description: 'True when no events arrived for longer than this ("missing > 15 minutes"); at least 1s.' }),
  source: Source,
});

const SeverityCounts = z
  .record(Name, z.number().int().min(0))
  .refine((counts) => Object.keys(counts).length > 0, 'name at least one severity');

const IncidentCondition = z.strictObject({
  kind: z.literal('incidents'),
  atMost: SeverityCounts.optional().meta({ description: 'True while counts stay within these maxima ("≤ 1 Sev-2, 0 Sev-1").' }),
  atLeast: SeverityCounts.optional().meta({ description: 'True once any count reaches its minimum ("any Sev-1", "2+ Sev-2").' }),
  within: Period.optional().meta({ description: 'Count only incidents this recent ("no Sev 1 bugs in 48h"); at least 1s.' }),
  scope: z.enum(['rollout', 'phase']).default('rollout'),
  source: Source,
});

const DiffCondition = z.strictObject({
  kind: z.literal('diff'),
  canary: Name.meta({ description: 'Metric computed on the canary.' }),
  stable: Name.meta({ description: 'The same metric computed on stable.' }),
  tolerance: z.number().min(0).meta({ description: 'Largest allowed |canary − stable| / |stable| (0.005 = 0.5%).' }),
  minSamples: z.number().int().min(1).meta({ description: 'Compared samples needed before the diff counts.' }),
  samplesMetric: Name.optional().meta({ description: 'Metric that reports how many samples were compared.' }),
  source: Source,
});

const ValueCondition = z.strictObject({
  kind: z.literal('value'),
  name: Name.meta({ description: 'A reported value (set with `canary set`), a metric, or a flag.' }),
  from: z.enum(['reported', 'metric', 'flag']).default('reported'),
  equals: z.union([z.number(), z.string(), z.boolean()]),
  source: Source,
});

const AttestationCondition = z.strictObject({
  kind: z.literal('attestation'),
  check: Name.meta({ description: 'What a person attests, e.g. "wf9-complete", "docs-complete".' }),
  role: Name.optional().meta({ description: 'Only a holder of this role may attest.' }),
  description: z.string().optional(),
  source: Source,
});

const ApprovalCondition = z.strictObject({
  kind: z.literal('approval'),
  role: Name,
  quorum: z.number().int().min(1).default(1),
  source: Source,
});

const HttpCondition = z.strictObject({
  kind: z.literal('http'),
  url: z.string().url(),
  method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
  expectStatus: z.number().int().min(100).max(599).default(200),
  timeout: Timeout.default('10s'),
  source: Source,
});

const CommandCondition = z.strictObject({
  kind: z.literal('command'),
  run: z.string().min(1).meta({ description: 'Shell command; passes when it exits with expectExit.' }),
  expectExit: z.number().int().default(0),
  timeout: Timeout.default('5m'),
  source: Source,
});

const AlertCondition = z.strictObject({
  kind: z.literal('alert'),
  alert: Name.meta({ description: 'Alertmanager alert name (or a reported signal such as "security-incident").' }),
  labels: z.record(z.string(), z.string()).optional(),
  source: Source,
});

const BudgetCondition = z.strictObject({
  kind: z.literal('budget'),
  budget: Name.meta({ description: 'A budget declared under budgets; true while spend is within its limit.' }),
  source: Source,
});

export const Condition = z.discriminatedUnion('kind', [
  ThresholdCondition,
  RelativeCondition,
  AnomalyCondition,
  FreshnessCondition,
  AbsenceCondition,
  IncidentCondition,
  DiffCondition,
  ValueCondition,
  AttestationCondition,
  ApprovalCondition,
  HttpCondition,
  CommandCondition,
  AlertCondition,
  BudgetCondition,
]);

/** A named condition. Gates, checks and criteria are lists of these. */
export const Check = z.strictObject({
  name: Name,
  description: z.string().optional(),
  when: Condition,
});
