/**
 * Messages from people and systems: approvals, tokens, attestations, reported values, incidents, operator commands
 * and task results — who may send them, why one is refused, and what an accepted one does.
 */
import { describeUnmet } from '../waits';
import type { Plan } from '../plan-schema';
import type { ApprovalDecision, MessageEvent, OperatorCommand, Refusal, RefusalCode, RolloutEvent } from '../types';
import { type Run, phaseName, isFinished, log, notify, setStatus } from './context';
import { findPlanTask } from '../plan-tasks';
import { continueRefreeze } from './after-full';
import { unmetChecks } from './observation';
import { enterNext, forcePromote } from './progression';
import { kill, liftHold, resume, startRollback } from './safety';

const refuse = (code: RefusalCode, message: string): Refusal => ({ code, message });

/** Operator commands that move toward safety: `controls.safety` roles may give them besides `controls.operators`. */
const SAFETY_COMMANDS: readonly OperatorCommand[] = ['pause', 'rollback', 'abort', 'kill'];

/** Why `event` is refused now, or undefined to accept it. */
export function refusalOf(run: Run, event: MessageEvent): Refusal | undefined {
  const { plan, state } = run;
  if (isFinished(state)) return refuse('finished', `the rollout already finished (${state.outcome})`);
  switch (event.type) {
    case 'approval': {
      const role = plan.roles[event.role];
      if (!role) return refuse('unknown-role', `unknown role "${event.role}"; this plan's roles are ${Object.keys(plan.roles).join(', ') || 'none'}`);
      if (!role.members.includes(event.by)) return refuse('not-a-member', `${event.by} does not hold the role ${event.role}`);
      const subject = event.subject ?? pendingSubjectFor(run, event.role);
      if (!subject) return refuse('nothing-waiting', `nothing from here on waits for an approval by ${event.role}`);
      if (subject.startsWith('phase:')) {
        const name = subject.slice('phase:'.length);
        const index = plan.phases.findIndex((p) => p.name === name);
        if (index < 0) return refuse('unknown-phase', `unknown phase "${name}"`);
        if (index < run.state.phaseIndex) return refuse('phase-past', `wrong phase: phase ${name} is already past (the rollout is in ${phaseName(plan, state.phaseIndex)})`);
        const requirement = plan.phases[index]?.approvals?.find((a) => a.role === event.role);
        if (!requirement) return refuse('no-such-approval', `phase ${name} needs no approval by ${event.role}`);
        // Only what the rollout is waiting for can be approved: entering the next phase, or leaving this one.
        const waiting = (index === state.phaseIndex + 1 && requirement.at === 'enter') || (index === state.phaseIndex && requirement.at === 'exit');
        if (state.trustV2 && !waiting) {
          if (index <= state.phaseIndex) return refuse('nothing-waiting', `nothing waits for this approval: phase ${name} was already entered${requirement.at === 'exit' ? '' : ' (its approval was needed to enter it)'}`);
          return refuse('too-early', `nothing waits for this approval yet: phase ${name} comes after ${phaseName(plan, state.phaseIndex + 1)}; approve it once the rollout waits for it`);
        }
        if ((requirement.signatureRequired ?? role.signatureRequired) && !event.verified) {
          return refuse('signature-required', `an approval by ${event.role} must carry a valid signature${event.signatureProblem ? `: ${event.signatureProblem}` : ''}`);
        }
      } else if (role.signatureRequired && !event.verified) {
        return refuse('signature-required', `an approval by ${event.role} must carry a valid signature${event.signatureProblem ? `: ${event.signatureProblem}` : ''}`);
      }
      // A decision on the hold, named as "hold" or as its cause ("sev2", "budget:<name>"), is for whoever decides it.
      const onTheHold = subject === 'hold' || (state.rulesV3 && state.hold !== undefined && subject === state.hold.cause);
      if (onTheHold && (!state.hold || (state.hold.decidedBy && !state.hold.decidedBy.includes(event.role)))) {
        return state.hold ? refuse('decided-by', `the hold is decided by ${state.hold.decidedBy?.join(' or ')}, not ${event.role}`) : refuse('nothing-waiting', 'nothing is on hold');
      }
      return undefined;
    }
    case 'consume-token': {
      const token = plan.tokens.find((t) => t.id === event.token);
      if (!token) return refuse('unknown-token', `unknown token "${event.token}"`);
      if (state.tokensConsumed[token.id]) return refuse('token-consumed', `token ${token.id} was already consumed by ${state.tokensConsumed[token.id]?.by}`);
      if (event.role !== token.role) return refuse('wrong-role', `token ${token.id} must be consumed by the ${token.role} role, not ${event.role}`);
      if (!plan.roles[token.role]?.members.includes(event.by)) return refuse('not-a-member', `${event.by} does not hold the role ${token.role}`);
      if (plan.roles[token.role]?.signatureRequired && !event.verified) return refuse('signature-required', `consuming ${token.id} needs a valid ${token.role} signature${event.signatureProblem ? `: ${event.signatureProblem}` : ''}`);
      const unmet = unmetChecks(run, token.requires);
      if (unmet.length > 0) return refuse('conditions-unmet', `its conditions do not hold: ${unmet.map(describeUnmet).join('; ')} — HOLD`);
      return undefined;
    }
    case 'attestation': {
      const cond = run.compiled.allConditions.find((c) => c.kind === 'attestation' && c.check === event.check);
      if (!cond || cond.kind !== 'attestation') return refuse('unknown-check', `no check "${event.check}" in this plan takes an attestation`);
      if (cond.role && !plan.roles[cond.role]?.members.includes(event.by)) return refuse('wrong-role', `${event.check} must be attested by the ${cond.role} role`);
      return undefined;
    }
    case 'report-value': {
      const known = run.compiled.allConditions.some((c) => c.kind === 'value' && c.from === 'reported' && c.name === event.name);
      return known ? undefined : refuse('unknown-value', `no condition in this plan reads a reported value "${event.name}"`);
    }
    case 'operator':
      return operatorRefusal(run, event);
    case 'spend': {
      if (!plan.budgets.some((b) => b.name === event.budget)) return refuse('unknown-budget', `unknown budget "${event.budget}"`);
      // Spend only grows: a lower total would lift a budget hold nobody co-signed.
      const reported = state.spend[event.budget];
      if (state.rulesV3 && reported !== undefined && event.total < reported) return refuse('spend-decrease', `spend on ${event.budget} only grows: ${event.total} is below the ${reported} already reported`);
      return undefined;
    }
    default:
      return undefined;
  }
}

export function operatorRefusal(run: Run, event: Extract<RolloutEvent, { type: 'operator' }>): Refusal | undefined {
  const { plan, state } = run;
  const denied = operatorAuthority(run, event);
  if (denied) return denied;
  // A hold that names who decides binds every way out of it toward more traffic; the ways toward safety stay open.
  const decidedBy = state.hold?.decidedBy;
  if (state.trustV2 && decidedBy?.length && (event.command === 'resume' || event.command === 'promote' || event.command === 'force-promote') && !(event.role && decidedBy.includes(event.role))) {
    return refuse('decided-by', `the hold (${state.hold?.reason}) is decided by ${decidedBy.join(' or ')}; ${event.command} needs that role, or roll back`);
  }
  switch (event.command) {
    case 'resume':
      return state.status === 'paused' || state.status === 'holding' ? undefined : refuse('nothing-to-resume', `there is nothing to resume: the rollout is ${state.status}`);
    case 'pause':
      return state.status === 'paused' ? refuse('already-paused', 'the rollout is already paused') : undefined;
    case 'promote':
      if (state.status === 'rolling-back') return refuse('rolling-back', 'the rollout is rolling back');
      return state.phaseIndex >= plan.phases.length - 1 ? refuse('last-phase', 'the rollout is already in its last phase') : undefined;
    case 'force-promote': {
      if (!event.reason) return refuse('reason-required', 'promote --force needs a reason');
      if (state.status === 'rolling-back') return refuse('rolling-back', 'the rollout is rolling back');
      return state.phaseIndex >= plan.phases.length - 1 ? refuse('last-phase', 'the rollout is already at its last phase') : undefined;
    }
    case 'abort':
    case 'rollback':
      if (!event.reason) return refuse('reason-required', `${event.command} needs a reason`);
      return state.status === 'rolling-back' ? refuse('rolling-back', 'the rollout is already rolling back') : undefined;
    case 'kill':
      return undefined;
  }
}

/**
 * Whether the sender may give this operator command at all, by authority only: the roles the plan grants for it
 * (`controls.operators` for every command, `controls.safety` for the commands that move toward safety — pause,
 * rollback, abort, kill — and `controls.forcePromote` alone for promote --force, which is off without it), and the
 * sender must hold the role it claims. A plan that grants no operator roles is steered by its owner only.
 */
export function operatorAuthority(run: Run, event: Extract<RolloutEvent, { type: 'operator' }>): Refusal | undefined {
  const { plan } = run;
  const { controls } = plan;
  const command = event.command === 'force-promote' ? 'promote --force' : event.command;
  if (event.command === 'force-promote' && !controls.forcePromote) return refuse('not-granted', 'promote --force is off for this plan (controls.forcePromote grants it to roles)');
  const roles = grantedOperatorRoles(plan, event.command);
  if (roles.length === 0) {
    if (plan.owner && event.by === plan.owner) return undefined;
    return refuse('not-granted', `${command} needs the plan owner${plan.owner ? ` (${plan.owner})` : ''}: this plan grants no operator role for it (controls.operators${SAFETY_COMMANDS.includes(event.command) ? ' or controls.safety' : ''})`);
  }
  if (!event.role) return refuse('not-granted', `${command} needs one of the roles ${roles.join(', ')}; the command named no role`);
  if (!roles.includes(event.role)) return refuse('not-granted', `${command} needs one of the roles ${roles.join(', ')}, not ${event.role}`);
  if (!plan.roles[event.role]?.members.includes(event.by)) return refuse('not-a-member', `${event.by} does not hold the role ${event.role}`);
  return undefined;
}

/** Which approval subject an approval by `role` without an explicit subject is for. */
export function pendingSubjectFor(run: Run, role: string): string | undefined {
  const { plan, state } = run;
  if (state.hold?.decidedBy?.includes(role)) return 'hold';
  for (const b of plan.budgets) {
    if (b.cosign?.role === role && (state.spend[b.name] ?? 0) > (b.cosign.above ?? b.limit)) return `budget:${b.name}`;
  }
  for (let i = Math.max(0, state.phaseIndex); i < plan.phases.length; i++) {
    const p = plan.phases[i];
    const wanted = p?.approvals?.find((a) => a.role === role && (i > state.phaseIndex || a.at === 'exit'));
    if (p && wanted) return `phase:${p.name}`;
  }
  if (run.compiled.allConditions.some((c) => c.kind === 'approval' && c.role === role)) return `check:${role}`;
  return undefined;
}

/**
 * Why a person's report of a task's result is refused (rules v3), or undefined to accept it: the task must be one
 * the plan has in that scope, a manual one (a command or http task's result comes from the worker, never from a
 * message), and the reporter must hold the role the task is assigned to, if any.
 */
export function taskReportRefusal(run: Run, event: Extract<RolloutEvent, { type: 'task-result' }>): Refusal | undefined {
  const task = findPlanTask(run.plan, event.scope, event.task);
  if (!task) return refuse('unknown-task', `no task ${event.task} in ${event.scope}`);
  if (task.run.type !== 'manual') return refuse('worker-task', `task ${event.task} runs on the worker: its result comes from there, not from a message`);
  const role = task.run.role;
  if (role && !run.plan.roles[role]?.members.includes(event.by ?? '')) return refuse('not-a-member', `${event.by} does not hold the role ${role} (task ${event.task} is assigned to it)`);
  return undefined;
}

/** An approval or rejection: recorded, logged with the decision as data; one on a hold decides it. */
export function approval(run: Run, event: Extract<RolloutEvent, { type: 'approval' }>): void {
  const { state } = run;
  const subject = event.subject ?? pendingSubjectFor(run, event.role) ?? 'unknown';
  state.approvals.push({
    id: event.id,
    role: event.role,
    by: event.by,
    subject,
    decision: event.decision,
    at: event.at,
    reason: event.reason,
    verified: event.verified ?? false,
  });
  const what = describeSubject(subject);
  const signed = event.verified ? ' (signature verified)' : '';
  const decision: ApprovalDecision = { role: event.role, by: event.by, decision: event.decision, subject, signatureVerified: event.verified ?? false, ...(event.reason ? { reason: event.reason } : {}) };
  log(run, event.decision === 'approve' ? 'approve' : 'reject', `${event.role} ${event.by} ${event.decision === 'approve' ? 'approved' : 'rejected'} ${what}${signed}${event.reason ? `: ${event.reason}` : ''}`, event.by, false, undefined, { approval: decision });
  notify(run, 'approval-received', `${event.role} ${event.by} ${event.decision}d ${what}`);
  // A decision on the hold itself, or the co-sign a budget hold waits for.
  if (subject === 'hold' || (state.hold !== undefined && state.hold.cause === subject)) {
    if (event.decision === 'approve') liftHold(run, `${event.role} ${event.by} decided to resume${event.reason ? `: ${event.reason}` : ''}`, event.by);
    else startRollback(run, `${event.role} ${event.by} decided to roll back${event.reason ? `: ${event.reason}` : ''}`, 'rolled_back', event.by);
  }
}

/** An incident opened or updated (incident triggers read them). */
export function incident(run: Run, event: Extract<RolloutEvent, { type: 'incident' }>): void {
  const { state } = run;
  const existing = state.incidents.find((i) => i.id === event.id);
  if (state.rulesV3 && existing && existing.status === (event.status ?? 'open')) return;
  if (existing) existing.status = event.status ?? existing.status;
  else state.incidents.push({ id: event.id, severity: event.severity, title: event.title, at: event.at, status: event.status ?? 'open' });
  log(run, 'incident', `incident ${event.severity}: ${event.title}${event.status === 'resolved' ? ' (resolved)' : ''}`);
}

/** An accepted operator command. */
export function operator(run: Run, event: Extract<RolloutEvent, { type: 'operator' }>): void {
  const { state } = run;
  const who = `${event.by}${event.role ? ` (${event.role})` : ''}`;
  const why = event.reason ? `: ${event.reason}` : '';
  switch (event.command) {
    case 'pause':
      state.pause = { by: event.by, reason: event.reason ?? 'paused by operator', since: state.now };
      setStatus(run, 'paused');
      log(run, 'pause', `paused by ${who}${why}`, event.by);
      notify(run, 'paused', `Rollout paused by ${who}${why}`);
      break;
    case 'resume':
      resume(run, `resumed by ${who}${why}`, event.by);
      break;
    case 'abort':
      startRollback(run, `aborted by ${who}${why}`, 'aborted', event.by);
      break;
    case 'rollback':
      startRollback(run, `rollback requested by ${who}${why}`, 'rolled_back', event.by);
      break;
    case 'promote':
      log(run, 'promote', `promoted by ${who}${why}: the minimum duration and gates of ${phaseName(run.plan, state.phaseIndex)} are waived`, event.by);
      // What a promotion does not waive (tokens, approvals, entry checks, a change window) is said, not implied.
      if (!enterNext(run, { promotedBy: who }) && state.rulesV3) {
        log(run, 'wait', `promote by ${who}: ${phaseName(run.plan, state.phaseIndex + 1)} is not entered yet; it still waits for: ${state.waitingFor.join('; ')}`, event.by);
      }
      break;
    case 'force-promote':
      log(run, 'force-promote', `promote --force by ${who}${why}: skipping to ${run.plan.phases[run.plan.phases.length - 1]?.percent}%, bypassing gates and approvals`, event.by);
      forcePromote(run, who);
      break;
    case 'kill':
      kill(run, `kill switch by ${who}${why}`, event.by);
      break;
  }
}

export function taskResult(run: Run, event: Extract<RolloutEvent, { type: 'task-result' }>): void {
  const { state } = run;
  const key = `${event.scope}:${event.task}`;
  state.taskRuns[key] = { at: state.taskRuns[key]?.at ?? event.at, ok: event.ok, detail: event.detail };
  log(run, 'task', `task ${event.task} ${event.ok ? 'succeeded' : 'failed'}${event.detail ? `: ${event.detail}` : ''}`, event.by);
  if (!event.ok) notify(run, 'task-failed', `Task ${event.task} failed${event.detail ? `: ${event.detail}` : ''}`);
  if (event.scope === 'refreeze') continueRefreeze(run);
}

/** The message in words, for the ops log: "approve by cfo carol". */
export function describeEvent(event: MessageEvent): string {
  switch (event.type) {
    case 'approval':
      return `${event.decision} by ${event.role} ${event.by}`;
    case 'consume-token':
      return `consuming token ${event.token} by ${event.by}`;
    case 'attestation':
      return `attestation of ${event.check} by ${event.by}`;
    case 'report-value':
      return `report ${event.name}=${String(event.value)} by ${event.by}`;
    case 'operator':
      return `${event.command} by ${event.by}`;
    case 'incident':
      return `incident ${event.id}`;
    case 'alert':
      return `alert ${event.alert}`;
    case 'spend':
      return `spend on ${event.budget}`;
  }
}

export function actorOf(event: MessageEvent): string | undefined {
  return 'by' in event ? event.by : undefined;
}

/**
 * The roles a plan grants an operator command: `controls.operators` for every command, plus `controls.safety` for
 * those that move toward safety (pause, rollback, abort, kill); for promote --force only `controls.forcePromote`.
 * Empty: no role may give it, only the plan's owner (and promote --force nobody).
 */
export function grantedOperatorRoles(plan: Plan, command: OperatorCommand): string[] {
  const { controls } = plan;
  if (command === 'force-promote') return controls.forcePromote?.roles ?? [];
  return [...(controls.operators ?? []), ...(SAFETY_COMMANDS.includes(command) ? (controls.safety ?? []) : [])];
}

/** An approval's subject in words: `phase:full` → "phase full", `hold` → "the hold", `budget:b` → "budget b". */
export function describeSubject(subject: string): string {
  return subject === 'hold' ? 'the hold' : subject.replace(/^phase:/, 'phase ').replace(/^budget:/, 'budget ');
}
