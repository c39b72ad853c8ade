/**
 * What a rollout records, as data: its ops-log entries (with the readings behind a decision, a refusal or an
 * approval), the kinds of refusal, and what an approval request asks. Readers read these fields, never the words.
 */
import type { DecisionAction, Millis } from './types';

export interface OpsLogEntry {
  at: Millis;
  phase: string;
  percent: number;
  action: DecisionAction;
  /** The go/no-go rationale in words. */
  reason: string;
  actor?: string;
  /** Metric values behind the decision. */
  metrics?: Record<string, number | string>;
  /** When the newest of those readings was observed. */
  observedAt?: Millis;
  /** Readings among `metrics` observed before `observedAt` (their source did not answer since), with when. */
  olderReadings?: Record<string, Millis>;
  /** On a `refuse` entry: why, as data (the reason names the message too). */
  refusal?: Refusal;
  /** On an `approve` or `reject` entry: the decision, as data. */
  approval?: ApprovalDecision;
}

/**
 * What an `approval-needed` notification asks, as data, for channels that show it richly (the exact approve command,
 * each gate against its threshold): src/providers/notify/approval-message.ts renders it.
 */
export interface ApprovalRequest {
  planName: string;
  role: string;
  phase: string;
  /** `phase:<name>`: what an approval decides. */
  subject: string;
  have: number;
  need: number;
  /** The approval must be signed (the command needs `--key`). */
  signatureRequired: boolean;
  reason?: string;
  /** The current phase's threshold gates as the rollout last judged them. */
  evidence: GateEvidence[];
}

export interface GateEvidence {
  name: string;
  /** The latest reading of the gate's metric; absent with no data. */
  value?: number;
  threshold: number;
  comparator: string;
  unit?: string;
  verdict: 'pass' | 'fail' | 'inconclusive' | 'no-data' | 'error';
}

/** Why a message is refused, by kind, for callers that act on it: the message is for people. */
export type RefusalCode =
  | 'malformed'
  | 'finished'
  | 'flag-locked'
  | 'unknown-role'
  | 'not-a-member'
  | 'not-granted'
  | 'signature-required'
  | 'nothing-waiting'
  | 'too-early'
  | 'unknown-phase'
  | 'phase-past'
  | 'no-such-approval'
  | 'decided-by'
  | 'unknown-token'
  | 'token-consumed'
  | 'wrong-role'
  | 'conditions-unmet'
  | 'unknown-check'
  | 'unknown-value'
  | 'unknown-budget'
  | 'nothing-to-resume'
  | 'already-paused'
  | 'rolling-back'
  | 'last-phase'
  | 'reason-required'
  | 'unknown-task'
  | 'worker-task'
  | 'spend-decrease';

export interface Refusal {
  code: RefusalCode;
  /** In words, without the message it refuses: "cfo must carry a valid signature: …". */
  message: string;
}

/** An approval or rejection as recorded: who, in which role, of what, and whether its signature verified. */
export interface ApprovalDecision {
  role: string;
  by: string;
  decision: 'approve' | 'reject';
  /** `phase:<name>`, `hold`, `budget:<name>` or `check:<role>`. */
  subject: string;
  signatureVerified: boolean;
  reason?: string;
}
