/**
 * The rollout plan format, defined once with zod: the TypeScript types (z.infer), the runtime validation and the
 * JSON Schema for editors (`canary schema`) all come from these definitions — primitives and providers
 * (./primitives.ts), conditions and checks (./conditions.ts), and here roles, approvals, tasks, triggers, budgets,
 * phases and the plan.
 *
 * Imports only zod and domain helpers. Cross-field rules (references, ordering, reachability) live in plan/validate.ts.
 */
import { z } from 'zod';
import { Check, Condition } from './conditions';
import { ChannelConfig, ClockTime, Duration, FlagProviderConfig, MetricDef, MetricSourceConfig, Name, Percent, Period, Source, Timeout, Weekday } from './primitives';

export * from './primitives';
export * from './conditions';
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
