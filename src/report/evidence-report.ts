/**
 * The evidence bundle of one rollout, as data: what an auditor or a post-mortem needs to see that the rollout did
 * what its plan said and why. Seed 000 asks that every phase change be recorded "with timestamp, metrics snapshot …
 * and go/no-go rationale"; seed 003 asks for the incident timeline, preserved metrics, rollback verification ("SLOs
 * return to baseline") and "100% audit trail coverage". So the report holds:
 * - the summary and final state;
 * - every ops-log entry in order (the full audit trail), with the rationale in words and the metric values behind it;
 * - the phase changes with their metric snapshots;
 * - approvals and rejections with the approver's identity, role, subject and whether a signature was verified;
 * - refused messages (who tried what, and why the rollout said no);
 * - metric snapshots, incidents and alerts, tasks, operator actions;
 * - the rollback with its verification, and the success criteria.
 *
 * Built by a pure function from the rollout's result (every decision and the full ops log), its memo and, while it
 * runs, its status view; and, when `canary report` could read them from the history (report-inputs.ts), the run and
 * its link in the Temporal UI, the plan the rollout ran (hashed, and read for the thresholds beside each value), who
 * started it and the flag writes that went through. Times are ISO 8601 UTC strings so the JSON form reads without
 * conversion.
 */
import { createHash } from 'node:crypto';
import { metricsOf } from '../domain/conditions';
import { formatDuration } from '../domain/duration';
import { describeSubject } from '../domain/machine';
import { describeCondition } from '../plan/describe';
import type { ConditionDef, Plan } from '../plan/schema';
import type { ApprovalRecord, DecisionAction, OpsLogEntry, Outcome, RefusalCode, RolloutResult } from '../domain/types';
import { describeWait, type Wait } from '../domain/waits';
import type { RolloutStatusView } from '../workflows/messages';

/** One ops-log entry in the report. */
export interface EvidenceEntry {
  at: string;
  phase: string;
  percent: number;
  action: DecisionAction;
  /** The go/no-go rationale in words. */
  rationale: string;
  actor?: string;
  /** Metric values behind the decision (a snapshot), when the entry carries them. */
  metrics?: Record<string, number | string>;
  /** When the newest of those readings was observed (ISO 8601). */
  observedAt?: string;
  /** Readings observed before that (their source did not answer since), with when (ISO 8601). */
  olderReadings?: Record<string, string>;
  /**
   * On a phase change into a phase that needed approvals: who approved entering it ("release-manager@demo
   * (release-manager)"), from the approvals logged for that phase up to this entry.
   */
  approvedBy?: string[];
}

/** A flag write that went through: the setFlags activity completed. */
export interface FlagWriteEvidence {
  /** When it completed (epoch ms). */
  at: number;
  flags: string[];
  percent: number;
  enabled: boolean;
}

/** A gate or trigger of the plan that reads a metric, and its condition in words ("< 0.01", "p95 <= 1.2× baseline"). */
export interface MetricThreshold {
  metric: string;
  kind: 'gate' | 'trigger';
  name: string;
  condition: string;
  /** The phases it applies in; undefined: every phase. */
  phases?: string[];
}

/** An approval or rejection, with the identity behind it. */
export interface ApprovalEvidence {
  at: string;
  decision: 'approved' | 'rejected';
  role: string;
  by: string;
  /** What was decided: "phase live", "the hold", "budget canary-spend". */
  subject: string;
  reason?: string;
  /** True when the worker verified the approver's signature against the role's keys. */
  signatureVerified: boolean;
}

/** A message the rollout refused: who tried what, and why it said no. */
export interface RefusalEvidence {
  at: string;
  phase: string;
  by?: string;
  /** "approve by cfo cfo@example.com refused: an approval by cfo must carry a valid signature". */
  message: string;
  /** The kind of refusal ("signature-required", "not-granted", …), for filtering. */
  code?: RefusalCode;
}

export interface EvidenceReport {
  rolloutId: string;
  /** The workflow run behind the report and its history in the Temporal UI, when known. */
  run?: {
    /** The latest run of the continue-as-new chain. */
    runId: string;
    /** The chain's first run, when it is another. */
    firstRunId?: string;
    namespace: string;
    /** `<ui>/namespaces/<ns>/workflows/<workflowId>/<runId>/history` of the latest run. */
    historyUrl: string;
  };
  /** `sha256`: of the canonical JSON (keys sorted, no spaces) of the plan the rollout ran, when it could be read. */
  plan: { id: string; name?: string; sha256?: string };
  /** Who started the rollout: the identity the workflow was started with. */
  startedBy?: string;
  generatedAt: string;
  summary: {
    /** Whether the rollout's workflow was still running when the report was made. */
    running: boolean;
    /** The rollout's status (running) or its outcome (ended). */
    status: string;
    outcome?: Outcome;
    phase: string;
    percent: number;
    startedAt?: string;
    /** When the last entry was logged, for an ended rollout. */
    endedAt?: string;
    /** From the first to the last entry (ended) or to the report (running). */
    duration?: string;
    /** What a running rollout waits for, as data. */
    waits: Wait[];
    /** The same waits in words (`describeWait`). */
    waitingFor: string[];
    hold?: { reason: string; since: string; deadline?: string; decidedBy?: string[] };
    /** The current phase's gates, for a running rollout. */
    gates: Array<{ name: string; satisfied: boolean; detail?: string }>;
  };
  /** Every ops-log entry, oldest first: the complete audit trail. */
  timeline: EvidenceEntry[];
  /** Entering, advancing, reverting, promoting, rolling back, killing and completing: each with its metrics. */
  phaseChanges: EvidenceEntry[];
  approvals: ApprovalEvidence[];
  refused: RefusalEvidence[];
  /** Entries that carry metric values, oldest first. */
  snapshots: EvidenceEntry[];
  /** The plan's gates and triggers that read a metric: what each snapshot value is measured against. */
  thresholds: MetricThreshold[];
  incidents: EvidenceEntry[];
  tasks: EvidenceEntry[];
  /** Pause, resume, promote, force-promote, kill, and holds. */
  interventions: EvidenceEntry[];
  rollback?: {
    startedAt: string;
    rationale: string;
    by?: string;
    /** True: metrics returned to baseline; false: they did not; undefined: not verified (yet) or nothing to verify. */
    verified?: boolean;
    /**
     * What the verification checks (the plan's `rollback.verify`): each check in words and the bound. `null`: the plan
     * configures none; undefined: the plan could not be read.
     */
    verify?: { within: string; checks: string[] } | null;
    /**
     * When the rollout's last flag write, taking traffic to 0% (or off), went through. `null`: its last write set
     * another percentage (or it wrote none); undefined: the flag writes could not be read.
     */
    trafficOffAt?: string | null;
    verification: EvidenceEntry[];
  };
  /** Each success criterion and its verdict, once evaluated. */
  successCriteria: Array<{ name: string; verdict: 'pass' | 'fail' | 'inconclusive' }>;
}

/** What {@link buildEvidenceReport} reads. */
export interface EvidenceInput {
  rolloutId: string;
  /** Whether the workflow is still running. */
  running: boolean;
  /** The result (ended) or the result query's answer (running): every decision and the full ops log. */
  result: RolloutResult;
  /** The status view, for a running rollout. */
  status?: RolloutStatusView;
  /** The workflow memo written at start: `{planId, planName}`. */
  memo?: Record<string, unknown>;
  /** When the report is made (epoch ms). */
  generatedAt: number;
  /** The workflow run and where the Temporal UI shows it (`uiUrl` like `http://localhost:8233`). */
  execution?: { runId: string; firstRunId?: string; namespace: string; uiUrl: string };
  /** The plan the rollout ran (its workflow input). */
  plan?: Plan;
  /** The identity the workflow was started with. */
  startedBy?: string;
  /** Flag writes that went through, oldest first. */
  flagWrites?: FlagWriteEvidence[];
}

const PHASE_CHANGES = new Set<DecisionAction>(['enter-phase', 'advance', 'revert-phase', 'promote', 'force-promote', 'rollback', 'kill', 'complete']);
const INTERVENTIONS = new Set<DecisionAction>(['pause', 'resume', 'promote', 'force-promote', 'kill', 'hold', 'escalate']);
const INCIDENTS = new Set<DecisionAction>(['incident', 'alert']);
/** Decisions whose entry names the phase just entered: where that phase's approvals are shown as "By". */
const ENTERS_PHASE = new Set<DecisionAction>(['enter-phase', 'advance', 'promote', 'force-promote']);
const TASKS = new Set<DecisionAction>(['task', 'attest', 'report', 'consume-token', 'stabilize', 'refreeze']);

/**
 * Builds the report. The ops log is taken from `result` in full; an entry that is not a recognisable approval
 * ("<role> <by> approved <subject>…") is still in the timeline, just not in `approvals`. A plan name missing from the
 * memo is left out; the plan id falls back to the status view's, then "unknown".
 */
export function buildEvidenceReport(input: EvidenceInput): EvidenceReport {
  const { result, status } = input;
  const timeline = result.opsLog.map(toEntry);
  const first = result.opsLog[0]?.at;
  const last = result.opsLog.at(-1)?.at;
  const end = input.running ? input.generatedAt : last;
  const planName = typeof input.memo?.planName === 'string' ? input.memo.planName : undefined;
  const planId = typeof input.memo?.planId === 'string' ? input.memo.planId : (status?.planId ?? 'unknown');

  // Every approval the rollout received (the result carries them, also for rollouts started before approvals were
  // data in the ops log), else those the ops log records as data.
  const approvals = result.approvals ? result.approvals.map(approvalFromRecord) : result.opsLog.flatMap((e) => approvalOf(e) ?? []);
  for (const e of timeline) {
    if (!ENTERS_PHASE.has(e.action)) continue;
    const by = approvals
      .filter((a) => a.decision === 'approved' && a.subject === `phase ${e.phase}` && a.at <= e.at)
      .map((a) => `${a.by} (${a.role})`);
    if (by.length > 0) e.approvedBy = [...new Set(by)];
  }
  const plan = input.plan;
  const rollbackStart = timeline.find((e) => e.action === 'rollback');
  const lastWrite = input.flagWrites?.at(-1);
  return {
    rolloutId: input.rolloutId,
    ...(input.execution
      ? {
          run: {
            runId: input.execution.runId,
            ...(input.execution.firstRunId && input.execution.firstRunId !== input.execution.runId ? { firstRunId: input.execution.firstRunId } : {}),
            namespace: input.execution.namespace,
            historyUrl: historyUrl(input.execution.uiUrl, input.execution.namespace, input.rolloutId, input.execution.runId),
          },
        }
      : {}),
    plan: { id: planId, ...(planName ? { name: planName } : {}), ...(plan ? { sha256: planSha256(plan) } : {}) },
    ...(input.startedBy ? { startedBy: input.startedBy } : {}),
    generatedAt: iso(input.generatedAt),
    summary: {
      running: input.running,
      status: input.running ? (status?.status ?? 'running') : result.outcome,
      ...(input.running ? (status?.outcome ? { outcome: status.outcome } : {}) : { outcome: result.outcome }),
      phase: input.running ? (status?.phase ?? result.phase) : result.phase,
      percent: input.running ? (status?.percent ?? result.finalPercent) : result.finalPercent,
      ...(first !== undefined ? { startedAt: iso(first) } : {}),
      ...(!input.running && last !== undefined ? { endedAt: iso(last) } : {}),
      ...(first !== undefined && end !== undefined ? { duration: formatDuration(Math.floor((end - first) / 1000) * 1000) } : {}),
      waits: input.running ? (status?.waits ?? []) : [],
      waitingFor: input.running ? (status?.waits ?? []).map(describeWait) : [],
      ...(input.running && status?.hold
        ? {
            hold: {
              reason: status.hold.reason,
              since: iso(status.hold.since),
              ...(status.hold.deadline !== undefined ? { deadline: iso(status.hold.deadline) } : {}),
              ...(status.hold.decidedBy ? { decidedBy: status.hold.decidedBy } : {}),
            },
          }
        : {}),
      gates: input.running ? (status?.gates ?? []) : [],
    },
    timeline,
    phaseChanges: timeline.filter((e) => PHASE_CHANGES.has(e.action)),
    approvals,
    refused: result.opsLog
      .filter((e) => e.action === 'refuse')
      .map((e) => ({ at: iso(e.at), phase: e.phase, ...(e.actor ? { by: e.actor } : {}), message: e.reason, ...(e.refusal ? { code: e.refusal.code } : {}) })),
    snapshots: timeline.filter((e) => e.metrics !== undefined && Object.keys(e.metrics).length > 0),
    thresholds: plan ? metricThresholds(plan) : [],
    incidents: timeline.filter((e) => INCIDENTS.has(e.action)),
    tasks: timeline.filter((e) => TASKS.has(e.action)),
    interventions: timeline.filter((e) => INTERVENTIONS.has(e.action)),
    ...(rollbackStart
      ? {
          rollback: {
            startedAt: rollbackStart.at,
            rationale: rollbackStart.rationale,
            ...(rollbackStart.actor ? { by: rollbackStart.actor } : {}),
            ...(result.rollbackVerified !== undefined ? { verified: result.rollbackVerified } : {}),
            ...(plan
              ? {
                  verify: plan.rollback.verify
                    ? { within: plan.rollback.verify.within, checks: plan.rollback.verify.checks.map((c) => `${c.name}: ${describeCondition(c.when, plan)}`) }
                    : null,
                }
              : {}),
            ...(input.flagWrites ? { trafficOffAt: lastWrite && (lastWrite.percent === 0 || !lastWrite.enabled) ? iso(lastWrite.at) : null } : {}),
            verification: timeline.filter((e) => e.action === 'rollback-verified' || e.action === 'rollback-unverified'),
          },
        }
      : {}),
    successCriteria: Object.entries(result.successCriteria ?? {}).map(([name, verdict]) => ({ name, verdict })),
  };
}

/** `<ui>/namespaces/<ns>/workflows/<workflowId>/<runId>/history`, each part URL-encoded (a rollout id holds colons). */
export function historyUrl(uiUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
}

/** The hex sha256 of the plan's canonical JSON: object keys sorted at every level, no whitespace, undefined left out. */
export function planSha256(plan: Plan): string {
  return createHash('sha256').update(canonicalJson(plan)).digest('hex');
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Every gate (shared and per phase) and trigger (rollout-wide and per phase) of the plan that reads a metric. A
 * threshold is shown as the machine compares it ("< 0.01", with the metric's unit); any other condition in words.
 */
function metricThresholds(plan: Plan): MetricThreshold[] {
  const out: MetricThreshold[] = [];
  const add = (kind: MetricThreshold['kind'], name: string, when: ConditionDef, phases?: string[]) => {
    for (const metric of metricsOf(when)) out.push({ metric, kind, name, condition: conditionText(when, metric, plan), ...(phases ? { phases } : {}) });
  };
  for (const gate of plan.gates) {
    const phases = plan.phases.filter((p) => !p.useGates || p.useGates.includes(gate.name)).map((p) => p.name);
    add('gate', gate.name, gate.when, phases.length === plan.phases.length ? undefined : phases);
  }
  for (const phase of plan.phases) for (const gate of phase.gates ?? []) add('gate', gate.name, gate.when, [phase.name]);
  for (const trigger of plan.triggers) add('trigger', trigger.name, trigger.when);
  for (const phase of plan.phases) for (const trigger of phase.triggers ?? []) add('trigger', trigger.name, trigger.when, [phase.name]);
  return out;
}

function conditionText(when: ConditionDef, metric: string, plan: Plan): string {
  if (when.kind === 'threshold' && when.metric === metric) {
    const unit = plan.metrics[metric]?.unit;
    return `${when.op} ${formatNumber(when.value)}${unit ? ` ${unit}` : ''}`;
  }
  return describeCondition(when, plan);
}

/**
 * A number as the rollout machine writes it in rationales: integers as they are, others to 4 significant digits
 * (23.20833333333334 → 23.21). The same rule as `fmt` in src/domain/conditions.ts, which is not exported.
 */
export function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(+value.toPrecision(4));
}

/** The report as two-space JSON with a final newline. */
export function renderEvidenceJson(report: EvidenceReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function toEntry(e: OpsLogEntry): EvidenceEntry {
  return {
    at: iso(e.at),
    phase: e.phase,
    percent: e.percent,
    action: e.action,
    rationale: e.reason,
    ...(e.actor ? { actor: e.actor } : {}),
    ...(e.metrics && Object.keys(e.metrics).length > 0 ? { metrics: e.metrics } : {}),
    ...(e.observedAt !== undefined ? { observedAt: iso(e.observedAt) } : {}),
    ...(e.olderReadings ? { olderReadings: Object.fromEntries(Object.entries(e.olderReadings).map(([name, at]) => [name, iso(at)])) } : {}),
  };
}

function approvalFromRecord(a: ApprovalRecord): ApprovalEvidence {
  return {
    at: iso(a.at),
    decision: a.decision === 'approve' ? 'approved' : 'rejected',
    role: a.role,
    by: a.by,
    subject: describeSubject(a.subject),
    ...(a.reason ? { reason: a.reason } : {}),
    signatureVerified: a.verified,
  };
}

/** An approval or rejection in the ops log, read from the decision the machine recorded with it (not its words). */
function approvalOf(e: OpsLogEntry): ApprovalEvidence | undefined {
  const decision = e.approval;
  if (!decision || (e.action !== 'approve' && e.action !== 'reject')) return undefined;
  return {
    at: iso(e.at),
    decision: decision.decision === 'approve' ? 'approved' : 'rejected',
    role: decision.role,
    by: decision.by,
    subject: describeSubject(decision.subject),
    ...(decision.reason ? { reason: decision.reason } : {}),
    signatureVerified: decision.signatureVerified,
  };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
