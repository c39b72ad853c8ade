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
 * runs, its status view. Times are ISO 8601 UTC strings so the JSON form reads without conversion.
 */
import { formatDuration } from '../domain/duration';
import type { DecisionAction, OpsLogEntry, Outcome, RolloutResult } from '../domain/types';
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
}

export interface EvidenceReport {
  rolloutId: string;
  plan: { id: string; name?: string };
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
}

const PHASE_CHANGES = new Set<DecisionAction>(['enter-phase', 'advance', 'revert-phase', 'promote', 'force-promote', 'rollback', 'kill', 'complete']);
const INTERVENTIONS = new Set<DecisionAction>(['pause', 'resume', 'promote', 'force-promote', 'kill', 'hold', 'escalate']);
const INCIDENTS = new Set<DecisionAction>(['incident', 'alert']);
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

  const rollbackStart = timeline.find((e) => e.action === 'rollback');
  return {
    rolloutId: input.rolloutId,
    plan: { id: planId, ...(planName ? { name: planName } : {}) },
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
    approvals: timeline.flatMap((e) => approvalOf(e) ?? []),
    refused: timeline.filter((e) => e.action === 'refuse').map((e) => ({ at: e.at, phase: e.phase, ...(e.actor ? { by: e.actor } : {}), message: e.rationale })),
    snapshots: timeline.filter((e) => e.metrics !== undefined && Object.keys(e.metrics).length > 0),
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
            verification: timeline.filter((e) => e.action === 'rollback-verified' || e.action === 'rollback-unverified'),
          },
        }
      : {}),
    successCriteria: Object.entries(result.successCriteria ?? {}).map(([name, verdict]) => ({ name, verdict })),
  };
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
  };
}

// The machine logs a decision as "<role> <by> approved|rejected <subject>[ (signature verified)][: <reason>]".
const DECISION = /^(\S+) (\S+) (approved|rejected) (.+?)( \(signature verified\))?(?:: (.*))?$/s;

function approvalOf(e: EvidenceEntry): ApprovalEvidence | undefined {
  if (e.action !== 'approve' && e.action !== 'reject') return undefined;
  const match = DECISION.exec(e.rationale);
  if (!match) return undefined;
  const [, role, by, decision, subject, verified, reason] = match;
  return {
    at: e.at,
    decision: decision as ApprovalEvidence['decision'],
    role: role!,
    by: by!,
    subject: subject!,
    ...(reason ? { reason } : {}),
    signatureVerified: verified !== undefined,
  };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
