/**
 * The "approval needed" message (pure): what is waiting for whom, the evidence the approver should look at (each
 * gate's current value against its threshold, as the rollout measured it), and exactly how to approve — the `canary`
 * command and the raw `temporal workflow signal` equivalent.
 */
import type { ApproveInput } from '../../workflows/messages';
import type { Notification, NotificationAction, NotificationField, NotificationSeverity } from './notifier';

/** How a gate stands: "no-data" is not "error" is not "fail", and none of them is a pass. */
export type EvidenceVerdict = 'pass' | 'fail' | 'inconclusive' | 'no-data' | 'error';

/** One gate's reading against its threshold. */
export interface ApprovalEvidence {
  /** The gate or metric name, e.g. "error-rate". */
  name: string;
  /** The current value; `undefined` when there is no reading. */
  value: number | string | undefined;
  threshold: number | string;
  /** How value and threshold compare for a pass: `<`, `<=`, `>`, `>=`, `==`, `!=`. */
  comparator: string;
  /** Shown after value and threshold: "%" is attached ("0.4%"), any other unit follows a space ("230 ms"). */
  unit?: string;
  verdict: EvidenceVerdict;
}

export interface ApprovalMessageInput {
  /** The plan's name for the channel the message goes to. */
  channel: string;
  /** The rollout's workflow id. */
  rolloutId: string;
  planName: string;
  /** The phase waiting for the approval. */
  phase: string;
  /** The role whose approval is needed. */
  role: string;
  /** Approvals counted so far for this role and subject, and how many are needed. */
  quorum: { have: number; need: number };
  evidence: ApprovalEvidence[];
  /** The plan's words for what is being approved (the approval's `reason`). */
  reason?: string;
  /** The approval's subject; default `phase:<phase>`. */
  subject?: string;
  /** A page where the approver can review and approve. */
  approvalUrl?: string;
  /** The Temporal namespace, added to the `temporal` command when given. */
  namespace?: string;
  /** The approval must be signed: `canary approve` needs the approver's private key (`--key`). */
  signatureRequired?: boolean;
}

/** Stands in for the approver's identity in the `temporal` command; the rollout refuses it, so it must be replaced. */
export const APPROVER_PLACEHOLDER = 'YOUR_ID';

const MARK: Record<EvidenceVerdict, string> = { pass: '✅', fail: '❌', inconclusive: '❔', 'no-data': '❔', error: '⚠️' };

/**
 * Builds the `approval-needed` notification. Severity is `info`, or `warning` when any evidence is not a pass (the
 * approver should look twice). Fields: phase, role, approvals ("1 of 2 — 1 more needed"), then one line per piece of
 * evidence in the given order ("✅ error-rate" → "0.4% < 1% (pass)"; no value reads "no data"). Actions: the `canary`
 * command and the `temporal workflow signal` command whose `--input` has the {@link ApproveInput} fields role, by
 * (the {@link APPROVER_PLACEHOLDER}) and subject.
 */
export function approvalNeededNotification(input: ApprovalMessageInput): Notification {
  const { have, need } = input.quorum;
  const missing = Math.max(need - have, 0);
  const progress = `${have} of ${need}${missing > 0 ? ` — ${missing} more needed` : ''}`;
  const failing = input.evidence.filter((e) => e.verdict !== 'pass');
  const verdictLine =
    input.evidence.length === 0
      ? 'No gate evidence was recorded for this phase.'
      : failing.length === 0
        ? `All ${input.evidence.length} gates pass.`
        : `${failing.length} of ${input.evidence.length} gates do not pass: ${failing.map((e) => `${e.name} (${e.verdict})`).join(', ')}.`;

  const message = [
    `${input.planName} (${input.rolloutId}) waits for ${input.role} approval of phase ${input.phase}: ${progress}.`,
    input.reason ? `What is approved: ${input.reason}` : undefined,
    verdictLine,
  ]
    .filter((line): line is string => line !== undefined)
    .join('\n');

  const fields: NotificationField[] = [
    { label: 'Phase', value: input.phase },
    { label: 'Role', value: input.role },
    { label: 'Approvals', value: progress },
    ...input.evidence.map((e) => ({ label: `${MARK[e.verdict]} ${e.name}`, value: describeEvidence(e) })),
  ];

  const severity: NotificationSeverity = failing.length > 0 ? 'warning' : 'info';
  return {
    channel: input.channel,
    event: 'approval-needed',
    rolloutId: input.rolloutId,
    title: `Approval needed: ${input.role} for phase ${input.phase} of ${input.planName}`,
    message,
    severity,
    fields,
    actions: approveActions(input),
    ...(input.approvalUrl ? { links: [{ label: 'Review and approve', url: input.approvalUrl }] } : {}),
  };
}

/** "0.4% < 1% (pass)", "230 ms <= 300 ms (fail)", "no data (threshold < 1%)". */
export function describeEvidence(evidence: ApprovalEvidence): string {
  const withUnit = (v: number | string) => (evidence.unit ? (evidence.unit === '%' ? `${v}%` : `${v} ${evidence.unit}`) : String(v));
  const threshold = `${evidence.comparator} ${withUnit(evidence.threshold)}`;
  return evidence.value === undefined
    ? `no data (threshold ${threshold}) (${evidence.verdict})`
    : `${withUnit(evidence.value)} ${threshold} (${evidence.verdict})`;
}

/**
 * The two ways to approve, exactly as they must be run: `canary approve` with the approver's id (`--by`) and, for a
 * role that signs, the private key (`--key`); and the raw Temporal signal with the same input (for a role that signs,
 * its input must first be signed with `canary sign`).
 */
export function approveActions(input: Pick<ApprovalMessageInput, 'rolloutId' | 'role' | 'phase' | 'subject' | 'namespace' | 'signatureRequired'>): NotificationAction[] {
  const signalInput: ApproveInput = { role: input.role, by: APPROVER_PLACEHOLDER, subject: input.subject ?? `phase:${input.phase}` };
  const id = shellQuote(input.rolloutId);
  const namespace = input.namespace ? ` --namespace ${shellQuote(input.namespace)}` : '';
  const key = input.signatureRequired ? ` --key ${shellQuote(`${input.role}.jwk`)}` : '';
  const replace = input.signatureRequired
    ? `replace ${APPROVER_PLACEHOLDER} with your approver id, and sign the input with \`canary sign\` first: ${input.role} approvals must be signed`
    : `replace ${APPROVER_PLACEHOLDER} with your approver id`;
  return [
    { label: `Approve (replace ${APPROVER_PLACEHOLDER} with your approver id${input.signatureRequired ? `; ${input.role}.jwk is your private key` : ''})`, command: `canary approve ${id} --role ${shellQuote(input.role)} --by ${APPROVER_PLACEHOLDER}${key}` },
    {
      label: `Or with the Temporal CLI (${replace})`,
      command: `temporal workflow signal --workflow-id ${id}${namespace} --name approve --input ${shellQuote(JSON.stringify(signalInput))}`,
    },
  ];
}

/** Quotes for a POSIX shell when needed: plain words stay as they are, anything else goes in single quotes. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_.:/@+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
