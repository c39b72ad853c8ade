/**
 * What a rollout waits for, as data: the machine records one {@link Wait} per unmet requirement, and every reader
 * (status view, `canary watch`, the demo's approver, the evidence report) reads the fields — the pending role, the
 * token, the time the minimum ends. {@link describeWait} is the one place a wait becomes words; nothing parses them
 * back. Imports only domain modules.
 */
import { formatDuration } from './duration';
import type { Hold, Millis } from './types';

/** A named check that does not hold now, and why ("EVIDENCE_BUNDLE is 0 (needs 1)"). */
export interface UnmetCheck {
  check: string;
  detail: string;
}

/**
 * One thing the rollout waits for. Before the first phase: `providers`, `precondition`, `token`; entering a phase:
 * `token`, `entry`, `approval` (at: 'enter'), `window`; in a phase: `minimum`, `until`, `gate`, `approval`
 * (at: 'exit'), `task`; at any time: `paused`, `hold`, `flag-write`.
 */
export type Wait =
  /** The phase's minimum duration ("≥ 6 hours"), or the end of day when the phase has one, whichever comes first. */
  | { kind: 'minimum'; phase: string; duration: string; endsAt: Millis; left: Millis; endOfDay?: string }
  /** An `until` check of the phase that does not hold yet. */
  | { kind: 'until'; phase: string; check: string; detail: string }
  /** A gate of the phase that is not met, with its current value against the threshold. */
  | { kind: 'gate'; phase: string; name: string; detail: string }
  /**
   * Approvals by `role` to enter or leave `phase`: `have` of `need` so far. `rejected`: the last decision by the role
   * was a rejection (entering only) — it needs a new decision, not more approvals of the same kind.
   */
  | { kind: 'approval'; role: string; have: number; need: number; phase: string; at: 'enter' | 'exit'; rejected?: { by: string; reason?: string } }
  /** A token `role` must consume before `phase`; `blockedBy` lists its conditions that fail (non-empty: a HOLD). */
  | { kind: 'token'; id: string; role: string; phase: string; blockedBy: UnmetCheck[] }
  /** An entry check of the next phase that does not hold. */
  | { kind: 'entry'; phase: string; check: string; detail: string }
  /** A precondition of the rollout that does not hold (before the first phase). */
  | { kind: 'precondition'; check: string; detail: string }
  /** A required task of the phase that has not succeeded yet. */
  | { kind: 'task'; phase: string; name: string }
  /** The next phase may only be entered in its allowed change windows; `opensAt`: the next opening, when known. */
  | { kind: 'window'; phase: string; opensAt?: Millis }
  /** The plan's providers must answer before traffic moves: `checked` false while the first check is out. */
  | { kind: 'providers'; checked: boolean; offline: string[] }
  /** A flag write that failed and is retried on every tick; the rollout does not move until it goes through. */
  | { kind: 'flag-write'; flags: string[]; percent: number; enabled: boolean; failures: number; since: Millis }
  /** Paused by an operator: `canary resume` continues. */
  | { kind: 'paused'; by: string; reason: string; since: Millis }
  /** On hold: a decision by one of `decidedBy` (any operator when absent or empty); `default` happens at `deadline`. */
  | { kind: 'hold'; cause: string; reason: string; since: Millis; decidedBy?: string[]; deadline?: Millis; default: Hold['default'] };

/** The kinds of {@link Wait}. */
export type WaitKind = Wait['kind'];

// A record, not a list: the compiler then insists on every kind, so a new kind cannot be left out of WAIT_KINDS.
const KINDS: Record<WaitKind, true> = {
  minimum: true,
  until: true,
  gate: true,
  approval: true,
  token: true,
  entry: true,
  precondition: true,
  task: true,
  window: true,
  providers: true,
  'flag-write': true,
  paused: true,
  hold: true,
};

/** Every kind of wait, for documents that describe them (the OpenAPI schema) and their tests. */
export const WAIT_KINDS = Object.keys(KINDS) as readonly WaitKind[];

/** `checkout-v2, beta → 25%` or `checkout-v2 → off`. */
export function describeWrite(write: { flags: string[]; percent: number; enabled: boolean }): string {
  return `${write.flags.join(', ')} → ${write.enabled ? `${write.percent}%` : 'off'}`;
}

/** `EVIDENCE_BUNDLE: EVIDENCE_BUNDLE is 0 (needs 1)`. */
export function describeUnmet(unmet: UnmetCheck): string {
  return `${unmet.check}: ${unmet.detail}`;
}

/**
 * The wait in words, as `waitingFor`, the ops log and the status line print it ("approval by cfo (0 of 1) to enter
 * full"). The only renderer of waits: the text is for people, the fields are for programs.
 */
export function describeWait(wait: Wait): string {
  switch (wait.kind) {
    case 'minimum':
      return `minimum duration ${wait.duration} (${formatDuration(wait.left)} left${wait.endOfDay ? `, or end of day ${wait.endOfDay}` : ''})`;
    case 'until':
      return `until ${wait.check}: ${wait.detail}`;
    case 'gate':
      return `gate ${wait.name}: ${wait.detail}`;
    case 'approval':
      if (wait.rejected) return `approval by ${wait.role}: rejected by ${wait.rejected.by}${wait.rejected.reason ? ` (${wait.rejected.reason})` : ''}`;
      return `approval by ${wait.role} (${wait.have} of ${wait.need}) to ${wait.at === 'enter' ? 'enter' : 'leave'} ${wait.phase}`;
    case 'token':
      return `token ${wait.id} to be consumed by ${wait.role}${wait.blockedBy.length ? ` — HOLD: ${wait.blockedBy.map(describeUnmet).join('; ')}` : ' (its conditions hold)'}`;
    case 'entry':
      return `entry ${wait.check}: ${wait.detail}`;
    case 'precondition':
      return `precondition ${wait.check}: ${wait.detail}`;
    case 'task':
      return `required task ${wait.name}`;
    case 'window':
      return `the next allowed change window for ${wait.phase}`;
    case 'providers':
      return wait.checked ? `providers to answer: ${wait.offline.join('; ')}` : "the plan's providers to answer (checking)";
    case 'flag-write':
      return `flag write ${describeWrite(wait)} to go through (failed ${wait.failures}×)`;
    case 'paused':
      return `resume (canary resume): paused by ${wait.by} since ${new Date(wait.since).toISOString()}`;
    case 'hold': {
      const who = wait.decidedBy?.length ? wait.decidedBy.join(' or ') : 'an operator';
      const deadline = wait.deadline !== undefined ? `; otherwise ${wait.default} at ${new Date(wait.deadline).toISOString()}` : '';
      return `a decision on the hold (${wait.cause}) by ${who}: canary resume or canary rollback${deadline}`;
    }
  }
}

/** Token waits whose conditions fail: the rollout HOLDs before the phase until they hold and the token is consumed. */
export function tokenHolds(waits: readonly Wait[]): Array<Extract<Wait, { kind: 'token' }>> {
  return waits.filter((w): w is Extract<Wait, { kind: 'token' }> => w.kind === 'token' && w.blockedBy.length > 0);
}

/**
 * The roles whose approval is pending: approval waits not answered by a rejection (a rejection needs a new decision,
 * not the approve command), then the roles that decide a hold. Each role once, in that order.
 */
export function pendingApprovalRoles(waits: readonly Wait[]): string[] {
  const roles = new Set<string>();
  for (const w of waits) if (w.kind === 'approval' && !w.rejected) roles.add(w.role);
  for (const w of waits) if (w.kind === 'hold') for (const role of w.decidedBy ?? []) roles.add(role);
  return [...roles];
}

/** Tokens waiting to be consumed, with the role that consumes each (also those on HOLD: the command is the same). */
export function pendingTokens(waits: readonly Wait[]): Array<{ token: string; role: string }> {
  return waits.flatMap((w) => (w.kind === 'token' ? [{ token: w.id, role: w.role }] : []));
}
