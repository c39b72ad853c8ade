/**
 * The rollout plan format, defined once with zod: the TypeScript types (z.infer), the runtime validation and the
 * JSON Schema for editors (`canary schema`) all come from these definitions.
 *
 * Imports only zod and domain helpers. Cross-field rules (references, ordering, reachability) live in plan/validate.ts.
 */
import { z } from 'zod';
import { formatDuration, tryParseDuration } from './duration';

// ---------------------------------------------------------------------------------------------------------------
// Primitives

/** A name other parts of the plan refer to: metrics, roles, channels, phases, checks. */
export const Name = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.:-]*$/, 'expected a name of letters, digits, "_", "-", "." or ":", starting with a letter')
  .meta({ description: 'A name other parts of the plan refer to.' });

/** The longest duration a plan may name, 366 days: a rollout rule longer than a year is a typo, and sums stay finite. */
export const MAX_DURATION_MS = 366 * 86_400_000;

/**
 * The longest text read as a duration ("1d23h59m59s999ms" has 16 characters). Longer text is not parsed at all: a
 * megabyte-long "duration" in a hostile plan is refused by its length, not scanned.
 */
const MAX_DURATION_TEXT = 64;

/**
 * A duration of at least `minMs` and at most {@link MAX_DURATION_MS}: "90s", "5m", "2h", "1d", "1h30m", "500ms".
 * A validated plan must run: a zero window or evaluation interval would make the rollout loop without advancing time.
 */
function durationOf(minMs: number) {
  return z
    .string()
    .superRefine((text, ctx) => {
      const ms = text.length > MAX_DURATION_TEXT ? undefined : tryParseDuration(text);
      if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'expected a duration such as "90s", "5m", "2h", "1d" or "1h30m"' });
      else if (!(ms <= MAX_DURATION_MS)) ctx.addIssue({ code: 'custom', message: `expected a duration of at most ${formatDuration(MAX_DURATION_MS)}` });
      else if (ms < minMs) ctx.addIssue({ code: 'custom', message: `expected a duration of at least ${formatDuration(minMs)}` });
    })
    .meta({
      description: `A duration: number + unit (ms, s, m, h, d), largest unit first, e.g. "90s", "1h30m"; ${minMs > 0 ? `at least ${formatDuration(minMs)}, ` : ''}at most 366d.`,
      examples: ['5m', '2h', '1h30m'],
    });
}

/** Any duration from 0s to 366d: how long something must hold, may last, or may wait. */
export const Duration = durationOf(0);

/**
 * At least 1s: how often something is done (an evaluation interval, a window, a task's period), so every loop
 * advances, or how far back something counts (a lookback, a gap, an approval's age), so there is something to see.
 */
export const Period = durationOf(1_000);

/** How long a call may take before it is given up: at least 100ms. */
export const Timeout = durationOf(100);

/** The most consecutive windows a condition may ask for. */
export const MAX_CONSECUTIVE_WINDOWS = 1_000;

/** "HH:MM", 24-hour clock. */
export const ClockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day such as "09:00" or "18:30"');

export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/** Traffic share in percent; decimals such as 0.5 are allowed. */
export const Percent = z.number().min(0, 'a percentage cannot be negative').max(100, 'a percentage cannot exceed 100');

/** The name of an environment variable that holds a secret; the secret itself never appears in a plan. */
export const EnvVarName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected the NAME of an environment variable (A-Z, 0-9, _), not the secret itself');

export const Comparison = z.enum(['<', '<=', '>', '>=', '==', '!=']);

/** Where a rule comes from: a seed document and sentence, free text shown in `canary plan` and the ops log. */
const Source = z.string().optional().meta({ description: 'Where this rule comes from (document and sentence).' });

// ---------------------------------------------------------------------------------------------------------------
// Providers: where metrics come from, where flags live, where notifications go

export const MetricSourceConfig = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('prometheus'),
    url: z.string().url(),
    timeout: Timeout.optional(),
    auth: z
      .union([
        z.strictObject({ bearerTokenEnv: EnvVarName }),
        z.strictObject({ usernameEnv: EnvVarName, passwordEnv: EnvVarName }),
      ])
      .optional(),
  }),
  z.strictObject({
    type: z.literal('scrape'),
    url: z.string().url().meta({ description: "A service's /metrics endpoint (Prometheus text format)." }),
    interval: Period.optional().meta({ description: 'How often to scrape; at least 1s.' }),
  }),
  z.strictObject({
    type: z.literal('scenario').meta({ description: 'Values from a simulation scenario file (canary simulate, tests).' }),
  }),
]);

export const FlagProviderConfig = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('flagd-file'),
    path: z.string().min(1).meta({ description: 'The flagd flag-definition JSON file to write.' }),
  }),
  z.strictObject({
    type: z.literal('unleash'),
    url: z.string().url(),
    tokenEnv: EnvVarName,
    project: z.string().default('default'),
    environment: z.string(),
  }),
  z.strictObject({
    type: z.literal('webhook'),
    url: z.string().url(),
    tokenEnv: EnvVarName.optional(),
  }),
]);

export const ChannelConfig = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('slack'), webhookUrlEnv: EnvVarName, channel: z.string().optional() }),
  z.strictObject({ type: z.literal('pagerduty'), routingKeyEnv: EnvVarName, severity: z.enum(['critical', 'error', 'warning', 'info']).optional() }),
  z.strictObject({ type: z.literal('webhook'), urlEnv: EnvVarName }),
  z.strictObject({
    type: z.literal('email'),
    to: z.array(z.string().email()).min(1).meta({ description: 'The addresses every message is sent to.' }),
    smtpUrlEnv: EnvVarName.optional().meta({
      description:
        'The variable holding the mail server: smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465, optionally ?from=sender@example.com; default SMTP_URL.',
    }),
  }),
  z.strictObject({ type: z.literal('log').meta({ description: 'Writes to the ops log only (useful in demos and tests).' }) }),
]);

/** A named metric: a source and the source-specific query. */
export const MetricDef = z.strictObject({
  source: Name.meta({ description: 'A metric source declared under providers.metrics.' }),
  query: z.string().min(1).meta({ description: 'PromQL for prometheus; a series name for scrape and scenario sources.' }),
  unit: z.string().optional().meta({ description: 'Shown next to values: ms, ratio, %, count, USD …' }),
  description: z.string().optional(),
});

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

// ---------------------------------------------------------------------------------------------------------------
// Roles and approvals

export const RoleDef = z.strictObject({
  description: z.string().optional(),
  members: z.array(z.string().min(1)).min(1).meta({ description: 'Identities (e-mail, SSO subject) that hold the role.' }),
  signatureRequired: z.boolean().default(false).meta({ description: 'Approvals must carry a verifiable signature (JWS).' }),
  keys: z.array(z.string()).optional().meta({ description: 'Key ids or JWKS URLs that verify this role\'s signatures.' }),
});

export const ApprovalRequirement = z.strictObject({
  name: Name.optional(),
  role: Name,
  quorum: z.number().int().min(1).default(1).meta({ description: 'Distinct members of the role who must approve.' }),
  at: z.enum(['enter', 'exit']).default('enter').meta({ description: 'Needed to enter the phase, or to leave it.' }),
  expiresAfter: Period.optional().meta({ description: 'An approval older than this no longer counts; at least 1s.' }),
  escalate: z
    .strictObject({ after: Duration, to: z.array(Name).min(1).meta({ description: 'Channels or roles to escalate to.' }) })
    .optional(),
  signatureRequired: z.boolean().optional().meta({ description: "Overrides the role's signatureRequired." }),
  reason: z.string().optional().meta({ description: 'What is being approved, shown to approvers.' }),
  source: Source,
});

// ---------------------------------------------------------------------------------------------------------------
// Tasks: what runs on entering or leaving a phase, on a schedule, or when a trigger fires

export const TaskRun = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('command'), command: z.string().min(1), timeout: Timeout.default('10m') }),
  z.strictObject({ type: z.literal('http'), url: z.string().url(), method: z.enum(['GET', 'POST']).default('POST') }),
  z.strictObject({ type: z.literal('notify'), channels: z.array(Name).min(1), message: z.string() }),
  z.strictObject({
    type: z.literal('snapshot').meta({ description: 'Records current metric values in the ops log.' }),
    metrics: z.array(Name).optional(),
  }),
  z.strictObject({ type: z.literal('manual').meta({ description: 'A person does it and reports completion.' }), role: Name.optional() }),
]);

export const Task = z.strictObject({
  name: Name,
  description: z.string().optional(),
  on: z.enum(['enter', 'exit', 'every', 'daily']).default('enter'),
  every: Period.optional().meta({ description: 'With on: every — the period ("every 15 minutes"); at least 1s.' }),
  at: ClockTime.optional().meta({ description: 'With on: daily — the time of day.' }),
  repeatFor: Duration.optional().meta({
    description:
      'With on: every or daily — stop repeating this long after the phase (or stabilization) began ("Week 1: daily health checks").',
  }),
  run: TaskRun,
  required: z.boolean().default(false).meta({ description: 'The phase cannot advance until this task has succeeded.' }),
  source: Source,
});

// ---------------------------------------------------------------------------------------------------------------
// Actions: what a trigger or a timeout does

export const TriggerAction = z.enum(['rollback', 'abort', 'hold', 'revert-phase', 'pause', 'alert', 'kill']).meta({
  description:
    'rollback: hard stop, compensate everything. abort: stop the rollout — compensate everything, the outcome is aborted (not a failed canary: e.g. the metrics could not be read). hold: soft stop, wait for a decision. revert-phase: back to the previous phase. pause: stop advancing until resumed. alert: notify only. kill: all flags off at once.',
});

export const HoldPolicy = z.strictObject({
  decidedBy: z.array(Name).min(1).optional().meta({ description: 'Roles that may resume or roll back.' }),
  timeout: Duration.optional().meta({ description: 'If nobody decides within this time, the default applies.' }),
  default: z.enum(['rollback', 'revert-phase', 'resume', 'kill', 'stay']).default('stay'),
});

export const Trigger = z.strictObject({
  name: Name,
  description: z.string().optional(),
  when: Condition,
  action: TriggerAction,
  hold: HoldPolicy.optional().meta({ description: 'For hold: who decides, and what happens on timeout.' }),
  notify: z.array(Name).optional().meta({ description: 'Channels told when it fires.' }),
  severity: z.enum(['hard', 'soft', 'info']).optional().meta({ description: 'Label shown in reports (hard stop / soft stop).' }),
  tasks: z
    .array(Task)
    .optional()
    .meta({ description: 'Its runbook: tasks started when it fires ("inspect DB ops and recent changes"); on must be enter.' }),
  source: Source,
});

// ---------------------------------------------------------------------------------------------------------------
// Config changes, budgets

export const ConfigChange = z.strictObject({
  key: z.string().min(1).meta({ description: 'Configuration key, e.g. "stripe.mode".' }),
  from: z.union([z.string(), z.number(), z.boolean()]).meta({ description: 'Value restored on rollback.' }),
  to: z.union([z.string(), z.number(), z.boolean()]).meta({ description: 'Value applied on entry.' }),
  provider: Name.optional().meta({ description: 'A flag provider that stores the key; default the target provider.' }),
  source: Source,
});

export const Budget = z.strictObject({
  name: Name,
  phases: z.array(Name).min(1).meta({ description: 'Phases whose spend counts against this budget.' }),
  limit: z.number().min(0),
  currency: z.string().default('USD'),
  spend: z
    .strictObject({ metric: Name })
    .optional()
    .meta({ description: 'Where spend is read from; without it, spend is reported with `canary spend`.' }),
  preApproved: z.boolean().default(false),
  cosign: z
    .strictObject({ role: Name, above: z.number().min(0).optional().meta({ description: 'Defaults to the limit.' }) })
    .optional()
    .meta({ description: 'Spend above the limit needs a co-signature by this role ("> $300: CFO co-sign").' }),
  source: Source,
});

// ---------------------------------------------------------------------------------------------------------------
// Phases

export const TimeWindow = z.strictObject({
  days: z.array(Weekday).min(1).optional(),
  from: ClockTime,
  to: ClockTime,
});

export const Calendar = z.strictObject({
  timezone: z.string().default('UTC').meta({ description: 'IANA time zone, e.g. "Europe/Berlin".' }),
  endOfDay: ClockTime.optional().meta({
    description: 'The phase may also end at this time of day once it has started ("≥ 6 hours (or end of day)").',
  }),
  allowedWindows: z
    .array(TimeWindow)
    .min(1)
    .optional()
    .meta({ description: 'Phase changes happen only inside these windows.' }),
});

export const Phase = z.strictObject({
  name: Name,
  description: z.string().optional(),
  percent: Percent,
  cohorts: z
    .array(z.strictObject({ name: Name, percent: Percent.optional(), segment: z.string().optional() }))
    .optional()
    .meta({ description: 'Cohorts exposed in this phase (per-cohort flags when controls.cohortFlag is set).' }),
  minDuration: Duration.optional().meta({ description: 'Never leave the phase earlier.' }),
  maxDuration: Duration.optional().meta({ description: 'Upper bound of the phase (seed "48-72 hours").' }),
  until: z
    .array(Name)
    .optional()
    .meta({ description: 'Stay in this phase until these checks (from checks) pass — "until WF9 complete".' }),
  calendar: Calendar.optional(),
  entry: z.array(Check).optional().meta({ description: 'Entry criteria: must hold before the phase starts.' }),
  gates: z.array(Check).optional().meta({ description: 'Exit criteria: must hold to advance to the next phase.' }),
  useGates: z.array(Name).optional().meta({ description: 'Shared gates (from gates) that apply; default all of them.' }),
  approvals: z.array(ApprovalRequirement).optional(),
  triggers: z.array(Trigger).optional().meta({ description: 'Triggers that apply in this phase only.' }),
  configChanges: z.array(ConfigChange).optional(),
  tasks: z.array(Task).optional(),
  permanent: z.boolean().default(false).meta({ description: 'The final phase: stays forever once reached.' }),
  source: Source,
});

// ---------------------------------------------------------------------------------------------------------------
// Plan

export const Token = z.strictObject({
  id: z.string().min(1),
  role: Name.meta({ description: 'The role that consumes the token.' }),
  requires: z.array(Name).min(1).meta({ description: 'Checks (from checks) that must all pass to consume it.' }),
  before: Name.optional().meta({ description: 'The phase that cannot start until the token is consumed; default the first.' }),
  onUnmet: z.enum(['hold']).default('hold').meta({ description: '"If any flag is 0, HOLD."' }),
  source: Source,
});

export const Notification = z.strictObject({
  on: z
    .array(
      z.enum([
        'started',
        'phase-entered',
        'phase-advanced',
        'approval-needed',
        'approval-received',
        'token-consumed',
        'hold',
        'resumed',
        'paused',
        'trigger-fired',
        'rollback',
        'rollback-verified',
        'killed',
        'completed',
        'stabilization-report',
        'budget-exceeded',
        'task-failed',
        'flag-write-failed',
        'escalation',
      ]),
    )
    .min(1),
  channels: z.array(Name).min(1),
  source: Source,
});

/** The version of the plan format this code reads; a plan names it in `apiVersion`, and the loader refuses any other. */
export const PLAN_API_VERSION = 'canary/v1';

export const Plan = z
  .strictObject({
    apiVersion: z.literal(PLAN_API_VERSION).meta({ description: `The plan format version, ${PLAN_API_VERSION}; a plan of any other version is refused.` }),
    id: Name,
    name: z.string().min(1),
    runId: z.string().optional(),
    owner: z.string().optional(),
    description: z.string().optional(),
    target: z.strictObject({
      flags: z.array(z.string().min(1)).min(1).meta({ description: 'Flag key or keys the rollout sets.' }),
      provider: Name.meta({ description: 'A flag provider declared under providers.flags.' }),
      environment: Name,
    }),
    providers: z.strictObject({
      metrics: z.record(Name, MetricSourceConfig).default({}),
      flags: z.record(Name, FlagProviderConfig),
    }),
    metrics: z.record(Name, MetricDef).default({}),
    channels: z.record(Name, ChannelConfig).default({}),
    roles: z.record(Name, RoleDef).default({}),
    analysis: z
      .strictObject({
        interval: Period.default('30s').meta({ description: 'How often gates and triggers are evaluated; at least 1s.' }),
        inconclusiveLimit: Duration.default('15m').meta({ description: 'How long data may be missing before onInconclusive applies.' }),
        onInconclusive: TriggerAction.default('hold'),
        consecutiveErrorLimit: z.number().int().min(1).default(3).meta({ description: 'Metric source errors in a row before onError applies.' }),
        onError: TriggerAction.default('hold'),
      })
      .default({ interval: '30s', inconclusiveLimit: '15m', onInconclusive: 'hold', consecutiveErrorLimit: 3, onError: 'hold' }),
    checks: z.array(Check).default([]).meta({ description: 'Named preconditions, referenced by phases (until) and tokens.' }),
    preconditions: z.array(Name).default([]).meta({ description: 'Checks that must all pass before phase 1.' }),
    tokens: z.array(Token).default([]),
    gates: z.array(Check).default([]).meta({ description: 'Gates shared by every phase ("advance criteria, per phase").' }),
    triggers: z.array(Trigger).default([]).meta({ description: 'Triggers for the whole rollout.' }),
    phases: z.array(Phase).min(1),
    allowDecreasingPercent: z.boolean().default(false),
    budgets: z.array(Budget).default([]),
    controls: z
      .strictObject({
        killSwitch: z.strictObject({ flag: z.string().min(1) }).optional(),
        cohortFlag: z.string().optional().meta({ description: 'Per-cohort flag key pattern with {name}, e.g. "canary.cohort.{name}.enabled".' }),
        circuitBreaker: z
          .strictObject({
            consecutiveErrors: z.number().int().min(1).max(1000),
            action: TriggerAction.default('kill'),
            when: Condition.optional().meta({
              description:
                "What counts as an error of the canary itself, each evaluation (e.g. its error rate above a threshold): that many consecutive evaluations where it holds trip the breaker, as do that many consecutive metric-source errors.",
            }),
          })
          .optional(),
        forcePromote: z
          .strictObject({ roles: z.array(Name).min(1) })
          .optional()
          .meta({ description: 'Who may skip to 100% (promote --force). Without it, promote --force is refused.' }),
        operators: z
          .array(Name)
          .optional()
          .meta({ description: 'Roles that may pause, resume, promote, roll back, abort and kill. With neither this nor safety, only the plan owner may.' }),
        safety: z
          .array(Name)
          .optional()
          .meta({ description: 'Further roles that may only move toward safety: pause, roll back, abort, kill (an on-call rota).' }),
      })
      .default({}),
    rollback: z
      .strictObject({
        verify: z
          .strictObject({ within: Duration, checks: z.array(Check).min(1) })
          .optional()
          .meta({ description: 'After rollback, these must hold within this time ("SLOs return to baseline < 5 min").' }),
        tasks: z.array(Task).optional().meta({ description: 'Post-rollback actions.' }),
        target: z.enum(['off', 'previous-percent']).default('off'),
      })
      .default({ target: 'off' }),
    notifications: z.array(Notification).default([]),
    afterFull: z
      .strictObject({
        stabilization: z
          .strictObject({
            duration: Duration.meta({ description: 'How long the post-100% stabilization lasts ("7-day plan").' }),
            minDuration: Duration.optional().meta({ description: 'Shortest stabilization ("≥ 24 hours").' }),
            tasks: z.array(Task).default([]),
            gates: z.array(Check).optional().meta({ description: 'Must hold for stabilization to count as stable.' }),
          })
          .optional(),
        successCriteria: z
          .strictObject({ over: Duration.meta({ description: 'Evaluation window ("30-day evaluation").' }), checks: z.array(Check).min(1) })
          .optional(),
        refreeze: z.array(Task).optional().meta({ description: 'Golden re-freeze steps, run in order after full cutover.' }),
      })
      .optional(),
    evidence: z
      .strictObject({
        opsLog: z.string().optional().meta({ description: 'Where the ops log is written (JSON lines).' }),
        bundle: z.string().optional().meta({ description: 'Directory the evidence bundle is written to.' }),
      })
      .optional(),
    source: Source,
  })
  .meta({ title: 'canary rollout plan', description: 'A staged rollout: phases, gates, approvals, tokens, triggers.' });

export type Plan = z.infer<typeof Plan>;
export type PlanInput = z.input<typeof Plan>;
export type PhaseDef = z.infer<typeof Phase>;
export type CheckDef = z.infer<typeof Check>;
export type ConditionDef = z.infer<typeof Condition>;
export type TriggerDef = z.infer<typeof Trigger>;
export type TaskDef = z.infer<typeof Task>;
export type BudgetDef = z.infer<typeof Budget>;
export type ApprovalRequirementDef = z.infer<typeof ApprovalRequirement>;
export type RoleDefinition = z.infer<typeof RoleDef>;
export type TokenDef = z.infer<typeof Token>;
export type ConfigChangeDef = z.infer<typeof ConfigChange>;
export type MetricDefinition = z.infer<typeof MetricDef>;

/** The JSON Schema for editors, generated from the zod definitions (input shape: defaults are optional). */
export function planJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(Plan, { io: 'input', unrepresentable: 'any', reused: 'ref' }) as Record<string, unknown>;
}
