/**
 * One frame of a rollout's live progress, as text lines: what `canary watch` and `npm start` print. Pure: the
 * status view and the clock go in, lines come out, so the same frame reads the same in a terminal, a log and a README.
 */
import { formatDuration } from '../domain/duration';
import type { Plan } from '../domain/plan-schema';
import { describeWait, pendingApprovalRoles, pendingTokens, type Wait } from '../domain/waits';
import type { RolloutStatusView } from '../workflows/messages';

/** What {@link renderProgress} needs besides the view. */
export interface ProgressOptions {
  /** The time the frame describes (epoch ms): "time left" is counted from here. */
  now: number;
  /** The id to print and to put in commands; default: the view's own `rolloutId`. */
  rolloutId?: string;
  /**
   * The plan the rollout runs (its `plan` query), for which decisions must be signed: the approve and consume-token
   * commands of a role that signs carry `--key <role>.jwk`, since the rollout refuses them unsigned. Without it the
   * commands carry no `--key` (the status view does not say who signs).
   */
  plan?: Pick<Plan, 'roles' | 'phases'>;
}

/** Width of the label column, so values line up. */
const LABEL = 12;

/**
 * The lines of one progress frame:
 * - the rollout id and its status (and the outcome once it has one);
 * - the phase, its traffic percent, how long it has run and the time left in its minimum duration (from
 *   `minimumEndsAt`; "met" once it has passed; nothing when the phase has no minimum);
 * - each gate of the phase, met or not, with its detail (the current value against the threshold), or "not
 *   evaluated yet" when there is no detail;
 * - what the rollout waits for (each of `waits` in words, one line each);
 * - each trigger on its way to firing, with how far it has got ("true for 30s of the 2m it needs");
 * - for each role an approval is pending from (an approval wait not answered by a rejection, or the roles that decide
 *   a hold wait), the exact command that approves, with `--by` for each member of the role (the first three), and
 *   for each token waiting to be consumed the command that consumes it; with `--key <role>.jwk` when the decision
 *   must be signed (per `options.plan`);
 * - a hold with its reason, since when, who decides it and its deadline with the time left.
 * Lines after the first are indented by two spaces. Recent ops-log entries are left to the caller, which knows which
 * it has already printed. Before the first phase, the phase line says so and no gates are listed.
 */
export function renderProgress(view: RolloutStatusView, options: ProgressOptions): string[] {
  const id = options.rolloutId ?? view.rolloutId;
  const { now } = options;
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(LABEL)}${text}`);

  lines.push(`${id} — ${view.status}${view.outcome && view.outcome !== view.status ? ` (outcome: ${view.outcome})` : ''}`);
  row('phase', phaseText(view, now));
  for (const gate of view.gates) {
    row('gate', `${gate.name}: ${gate.satisfied ? 'met' : 'not met'} — ${gate.detail ?? 'not evaluated yet'}`);
  }
  // A view from a worker that predates waits as data has none: it shows no waits until that worker is replaced.
  const waits = view.waits ?? [];
  for (const wait of waits) row('waiting for', describeWait(wait));
  for (const { name, action, progress, detail } of view.triggers ?? []) {
    if (progress) row('trigger', `${name} (${action}): ${progress} toward firing${detail ? ` — ${detail}` : ''}`);
  }
  // The exact command, as a member of the role runs it: one line per member (a role of many shows the first three).
  for (const role of pendingApprovalRoles(waits)) {
    const members = view.approvers?.[role] ?? [];
    const key = options.plan && approvalSigned(options.plan, role, waits) ? keyOption(role) : '';
    const command = (by?: string) => `canary approve ${shellWord(id)} --role ${shellWord(role)}${by ? ` --by ${shellWord(by)}` : ''}${key}`;
    if (members.length === 0) row('to approve', command());
    for (const member of members.slice(0, 3)) row('to approve', command(member));
    if (members.length > 3) row('', `(or --by any of ${members.length - 3} more members of ${role})`);
  }
  for (const { token, role } of pendingTokens(waits)) {
    const key = options.plan?.roles[role]?.signatureRequired ? keyOption(role) : '';
    row('to consume', `canary consume-token ${shellWord(id)} ${shellWord(token)} --role ${shellWord(role)}${key}`);
  }
  if (view.hold) {
    const h = view.hold;
    const parts = [h.reason, `since ${clock(h.since)}`];
    if (h.decidedBy?.length) parts.push(`decided by ${h.decidedBy.join(' or ')}`);
    if (h.deadline !== undefined) parts.push(`deadline ${clock(h.deadline)} (${timeLeft(h.deadline - now)})`);
    row('hold', parts.join('; '));
  }
  return lines;
}

/**
 * Whether an approval by `role` the rollout waits for must be signed, as the rollout decides it: a phase's approval
 * by the phase's requirement for the role (its `signatureRequired`, else the role's), a hold decision by the role's.
 */
export function approvalSigned(plan: Pick<Plan, 'roles' | 'phases'>, role: string, waits: readonly Wait[]): boolean {
  const roleSigns = plan.roles[role]?.signatureRequired ?? false;
  const decidesHold = waits.some((w) => w.kind === 'hold' && w.decidedBy?.includes(role));
  if (decidesHold && roleSigns) return true;
  return waits.some((w) => {
    if (w.kind !== 'approval' || w.role !== role || w.rejected) return false;
    const requirement = plan.phases.find((p) => p.name === w.phase)?.approvals?.find((a) => a.role === role);
    return requirement?.signatureRequired ?? roleSigns;
  });
}

/** ` --key <role>.jwk`: where the approver's private JWK is, named after the role, for commands of a role that signs. */
function keyOption(role: string): string {
  return ` --key ${shellWord(`${role}.jwk`)}`;
}

function phaseText(view: RolloutStatusView, now: number): string {
  if (view.phaseIndex < 0) return `not started (${view.phase}), traffic ${view.percent}%`;
  const parts = [`${view.phase} (phase ${view.phaseIndex + 1}) at ${view.percent}%`, `for ${span(now - view.phaseEnteredAt)}`];
  if (view.minimumEndsAt !== undefined) {
    parts.push(view.minimumEndsAt > now ? `minimum duration: ${left(view.minimumEndsAt - now)} left` : 'minimum duration met');
  }
  return parts.join(', ');
}

/** Elapsed time in whole seconds, the way plans write durations ("1m30s"); under a second reads "0s". */
function span(ms: number): string {
  return formatDuration(Math.max(0, Math.floor(ms / 1000)) * 1000);
}

/** Time still to go, rounded up to whole seconds: 300 ms left reads "1s", never "0s left". */
function left(ms: number): string {
  return formatDuration(Math.max(0, Math.ceil(ms / 1000)) * 1000);
}

function timeLeft(ms: number): string {
  return ms > 0 ? `${left(ms)} left` : `passed ${span(-ms)} ago`;
}

/** UTC time of day with the date, without milliseconds: 2026-01-14T08:00:00Z. */
function clock(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `text` as one shell word: unchanged when it has no special characters, single-quoted otherwise. */
export function shellWord(text: string): string {
  return /^[\w.:@/+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
