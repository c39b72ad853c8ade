/**
 * Progression through the phases: whether the current phase may be left, what entering the next one needs
 * (providers, preconditions, tokens, entry checks, approvals, budgets, change windows), and entering it.
 */
import { observedMetrics, type CompiledApproval, type KeyedCheck } from '../compiled-plan';
import { validApprovers } from '../conditions';
import { endOfDayReached, insideWindows, nextWindowOpening } from '../calendar';
import { formatDuration } from '../duration';
import { describeWait, type Wait } from '../waits';
import type { ApprovalRequest, GateEvidence, RolloutStatus } from '../types';
import { type Run, currentPhase, isFinished, evidence, log, notify, setStatus, setWaiting } from './context';
import { afterFull } from './after-full';
import { cohortLevel, setCohortFlags } from './flag-writes';
import { emitObserve, isSatisfied, runChecks, unmetChecks } from './observation';
import { checkRollbackDeadline, hold, holdTimeout } from './safety';
import { runTask } from './tasks';

/** The rollout starts: providers are checked, baselines observed and preconditions run before any traffic moves. */
export function start(run: Run): void {
  const { plan, state } = run;
  state.status = 'waiting';
  log(run, 'start', `rollout of ${plan.target.flags.join(', ')} in ${plan.target.environment} started: ${plan.phases.length} phases, ${plan.phases.map((p) => `${p.percent}%`).join(' → ')}`);
  notify(run, 'started', `Rollout ${plan.name} started`);
  // Every provider the plan uses must answer before any traffic moves.
  run.commands.push({ type: 'check-providers' });
  // Establish baselines before any traffic moves.
  const metrics = observedMetrics(run.compiled, run.compiled.allConditions, state.phaseIndex);
  if (metrics.length > 0) emitObserve(run, metrics);
  runChecks(run, plan.preconditions);
}

/** Moves the rollout forward as far as the current facts allow. */
export function progress(run: Run): void {
  const { state } = run;
  for (let guard = 0; guard < run.plan.phases.length + 8; guard++) {
    if (isFinished(state)) return;
    if (state.status === 'rolling-back') {
      checkRollbackDeadline(run);
      return;
    }
    if (state.hold?.deadline !== undefined && state.now >= state.hold.deadline) {
      holdTimeout(run);
      continue;
    }
    if (state.status === 'paused' || state.status === 'holding') {
      setWaiting(run, [stoppedBecause(run)]);
      return;
    }
    if (state.pendingFlagWrites?.length) {
      setWaiting(run, state.pendingFlagWrites.map((w) => ({ kind: 'flag-write', flags: w.flags, percent: w.percent, enabled: w.enabled, failures: w.failures, since: w.since })));
      return;
    }
    budgetHolds(run);
    if ((state.status as RolloutStatus) === 'holding') return;
    if (state.stage === 'ramp') {
      if (state.phaseIndex >= 0 && !phaseDone(run)) return;
      if (!enterNext(run, {})) return;
    } else if (!afterFull(run)) return;
  }
}

/** What a paused or held rollout waits for: `canary resume`, or a decision on the hold by whoever decides it. */
export function stoppedBecause(run: Run): Wait {
  const { state } = run;
  if (state.status === 'paused') return { kind: 'paused', by: state.pause?.by ?? 'someone', reason: state.pause?.reason ?? '', since: state.pause?.since ?? state.now };
  const hold = state.hold;
  return {
    kind: 'hold',
    cause: hold?.cause ?? 'unknown',
    reason: hold?.reason ?? '',
    since: hold?.since ?? state.now,
    ...(hold?.decidedBy ? { decidedBy: hold.decidedBy } : {}),
    ...(hold?.deadline !== undefined ? { deadline: hold.deadline } : {}),
    default: hold?.default ?? 'stay',
  };
}

/** Whether the current phase may be left; records what it still waits for. */
export function phaseDone(run: Run): boolean {
  const { state } = run;
  const phase = currentPhase(run);
  if (!phase) return true;
  const { def } = phase;
  const waiting: Wait[] = [];
  const elapsed = state.now - state.phaseEnteredAt;
  const minMs = phase.minMs ?? 0;
  const eod = def.calendar?.endOfDay;
  const eodReached = eod !== undefined && endOfDayReached(state.phaseEnteredAt, state.now, eod, phase.timezone);
  if (elapsed < minMs && !eodReached) {
    waiting.push({ kind: 'minimum', phase: phase.name, duration: def.minDuration ?? '0', endsAt: state.phaseEnteredAt + minMs, left: minMs - elapsed, ...(eod ? { endOfDay: eod } : {}) });
  }
  for (const { key, check, timing } of phase.until) {
    const h = isSatisfied(run, key, check.when, timing);
    if (!h.ok) waiting.push({ kind: 'until', phase: phase.name, check: check.name, detail: h.detail });
  }
  for (const { key, check, timing } of phase.gates) {
    const h = isSatisfied(run, key, check.when, timing);
    if (!h.ok) waiting.push({ kind: 'gate', phase: phase.name, name: check.name, detail: h.detail });
  }
  for (const a of phase.approvals) {
    if (a.at !== 'exit') continue;
    const have = validApprovers(state, a.role, `phase:${phase.name}`, a.expiresMs, state.now, false).length;
    if (have < a.quorum) {
      waiting.push({ kind: 'approval', role: a.role, have, need: a.quorum, phase: phase.name, at: 'exit' });
      // Asked for (and escalated when overdue) like an approval to enter a phase.
      if (state.rulesV3) requestApproval(run, a, phase.name, have);
    }
  }
  for (const t of phase.tasks) {
    if (t.def.on !== 'exit' && t.def.required && state.taskRuns[t.key]?.ok !== true) waiting.push({ kind: 'task', phase: phase.name, name: t.name });
  }
  // Exit tasks start once everything else allows leaving ("record the go/no-go rationale"); required ones must
  // then succeed before the phase is left.
  if (waiting.length === 0) {
    for (const t of phase.tasks) {
      if (t.def.on !== 'exit') continue;
      const taskRun = state.taskRuns[t.key];
      if (!taskRun || taskRun.at < state.phaseEnteredAt) runTask(run, t.def, phase.name);
      if (t.def.required && state.taskRuns[t.key]?.ok !== true) waiting.push({ kind: 'task', phase: phase.name, name: t.name });
    }
  }
  const { maxMs } = phase;
  if (waiting.length > 0 && maxMs !== undefined && elapsed >= maxMs && !state.notified[`max:${phase.name}`]) {
    state.notified[`max:${phase.name}`] = state.now;
    hold(run, `phase ${phase.name} reached its maximum duration ${def.maxDuration} still waiting for: ${waiting.map(describeWait).join('; ')}`, 'max-duration', { default: 'stay' });
    return false;
  }
  // A phase that may be left records nothing: what comes next (the next phase's entry, or after-100% stages)
  // records its own wait, so the list does not flip between two views on every tick.
  if (waiting.length > 0) setWaiting(run, waiting);
  return waiting.length === 0;
}

/** Where an approval request is remembered (`notified`): per phase and role, and for leaving a phase apart. */
export function approvalKey(phase: string, approval: CompiledApproval): string {
  return approval.at === 'exit' ? `approval:${phase}:${approval.role}:exit` : `approval:${phase}:${approval.role}`;
}

/**
 * The current phase's threshold gates as the rollout last judged them, for an approver: the latest reading against
 * the threshold, and pass, fail or no data (a gate whose track has no usable data is never a pass).
 */
function gateEvidence(run: Run): GateEvidence[] {
  const { state, plan } = run;
  return (currentPhase(run)?.gates ?? []).flatMap(({ key, check }): GateEvidence[] => {
    const when = check.when;
    if (when.kind !== 'threshold') return [];
    const track = state.tracks[key];
    const latest = state.latest[when.metric];
    const unit = plan.metrics[when.metric]?.unit;
    const verdict: GateEvidence['verdict'] = track?.satisfied ? 'pass' : track?.inconclusiveSince !== undefined ? 'no-data' : track ? 'fail' : 'inconclusive';
    return [{ name: check.name, ...(latest ? { value: latest.value } : {}), threshold: when.value, comparator: when.op, ...(unit ? { unit } : {}), verdict }];
  });
}

/** Tries to enter the next phase (or the first); returns true if it did. */
export function enterNext(run: Run, options: { promotedBy?: string }): boolean {
  const { state } = run;
  const index = state.phaseIndex + 1;
  const next = run.compiled.phases[index];
  if (!next) {
    if (state.stage === 'ramp') {
      setWaiting(run, []);
      state.stage = 'final';
      return true;
    }
    return false;
  }
  const unmet = entryRequirements(run, index);
  if (unmet.length > 0) {
    setWaiting(run, unmet);
    if (index === 0 || unmet.some((w) => w.kind === 'token')) setStatus(run, 'waiting');
    return false;
  }
  const windows = next.def.calendar?.allowedWindows;
  if (windows && !insideWindows(state.now, windows, next.timezone)) {
    const opensAt = nextWindowOpening(state.now, windows, next.timezone);
    setWaiting(run, [{ kind: 'window', phase: next.name, ...(opensAt !== undefined ? { opensAt } : {}) }]);
    return false;
  }
  enterPhase(run, index, options.promotedBy ? `promoted by ${options.promotedBy}` : rationale(run, index));
  return true;
}

/** What entering phase `index` still needs: preconditions, tokens, entry checks, approvals, budgets. */
function entryRequirements(run: Run, index: number): Wait[] {
  const { plan, state } = run;
  const phase = run.compiled.phases[index];
  if (!phase) return [];
  const unmet: Wait[] = [];
  if (index === 0 || state.phaseIndex < 0) {
    if (state.providersOffline === undefined) unmet.push({ kind: 'providers', checked: false, offline: [] });
    else if (state.providersOffline.length > 0) unmet.push({ kind: 'providers', checked: true, offline: state.providersOffline });
    unmet.push(...unmetChecks(run, plan.preconditions).map((u): Wait => ({ kind: 'precondition', ...u })));
  }
  for (const token of plan.tokens) {
    const before = token.before ?? plan.phases[0]?.name;
    const beforeIndex = plan.phases.findIndex((p) => p.name === before);
    if (index >= beforeIndex && !state.tokensConsumed[token.id]) {
      unmet.push({ kind: 'token', id: token.id, role: token.role, phase: before ?? phase.name, blockedBy: unmetChecks(run, token.requires) });
    }
  }
  for (const { key, check, timing } of phase.entry) {
    const h = isSatisfied(run, key, check.when, timing);
    if (!h.ok) unmet.push({ kind: 'entry', phase: phase.name, check: check.name, detail: h.detail });
  }
  for (const a of phase.approvals) {
    if (a.at !== 'enter') continue;
    const subject = `phase:${phase.name}`;
    const rejected = state.approvals.filter((x) => x.role === a.role && x.subject === subject).at(-1);
    const have = validApprovers(state, a.role, subject, a.expiresMs, state.now, false).length;
    if (have < a.quorum) {
      unmet.push({
        kind: 'approval',
        role: a.role,
        have,
        need: a.quorum,
        phase: phase.name,
        at: 'enter',
        ...(rejected?.decision === 'reject' ? { rejected: { by: rejected.by, ...(rejected.reason ? { reason: rejected.reason } : {}) } } : {}),
      });
      requestApproval(run, a, phase.name, have);
    }
  }
  return unmet;
}

/** Asks for an approval once (notification and ops log), and escalates it once when it is overdue. */
function requestApproval(run: Run, approval: CompiledApproval, phase: string, have: number): void {
  const { state, plan } = run;
  const { role, escalateMs } = approval;
  const reason = approval.def.reason;
  const escalateTo = approval.def.escalate?.to;
  const key = approvalKey(phase, approval);
  const toDo = approval.at === 'exit' ? 'leave' : 'enter';
  if (state.notified[key] === undefined) {
    state.notified[key] = state.now;
    const gates = evidence(run);
    const signatureRequired = approval.def.signatureRequired ?? plan.roles[role]?.signatureRequired ?? false;
    const request: ApprovalRequest = {
      planName: plan.name,
      role,
      phase,
      subject: `phase:${phase}`,
      have,
      need: approval.quorum,
      signatureRequired,
      ...(reason ? { reason } : {}),
      evidence: gateEvidence(run),
    };
    const command = `canary approve <rollout-id> --role ${role} --by <your id>${signatureRequired ? ` --key <${role} private JWK>` : ''}`;
    notify(run, 'approval-needed', `Approval needed: ${role} to ${toDo} ${phase}${reason ? ` — ${reason}` : ''}. Evidence: ${gates || 'no metrics yet'}. Approve with: ${command}`, [], request);
    log(run, 'wait', `waiting for ${role} approval to ${toDo} ${phase}`);
  } else if (escalateMs !== undefined && state.notified[`escalated:${key}`] === undefined && state.now - (state.notified[key] ?? state.now) >= escalateMs) {
    state.notified[`escalated:${key}`] = state.now;
    log(run, 'escalate', `${role} approval to ${toDo} ${phase} pending for ${formatDuration(state.now - (state.notified[key] ?? state.now))}: escalated to ${escalateTo?.join(', ')}`);
    notify(run, 'escalation', `Approval by ${role} to ${toDo} ${phase} is overdue`, escalateTo?.filter((c) => run.plan.channels[c]));
  }
}

/** Enters phase `index`: configuration, flags (target and cohorts), fresh tracks, enter tasks; `why` goes in the log. */
function enterPhase(run: Run, index: number, why: string): void {
  const { plan, state } = run;
  const compiled = run.compiled.phases[index];
  if (!compiled) return;
  const phase = compiled.def;
  const from = state.percent;
  for (const change of phase.configChanges ?? []) {
    state.compensations.push({ kind: 'config', phase: phase.name, key: change.key, value: change.from, provider: change.provider });
    run.commands.push({ type: 'set-config', key: change.key, value: change.to, provider: change.provider, reason: `entering ${phase.name}` });
  }
  // Each cohort flag goes to its own cohort's share; undoing the phase puts back exactly what it changed.
  const cohorts = compiled.cohortLevels;
  const before = Object.fromEntries(Object.keys(cohorts).map((flag) => [flag, cohortLevel(run, flag)]));
  state.compensations.push({ kind: 'flags', phase: phase.name, percent: from, ...(Object.keys(before).length ? { cohorts: before } : {}) });
  run.commands.push({ type: 'set-flags', flags: plan.target.flags, percent: phase.percent, enabled: phase.percent > 0, reason: `entering ${phase.name}` });
  setCohortFlags(run, cohorts, `entering ${phase.name}`);
  // A phase entered again (after a revert) starts its gates and triggers afresh.
  for (const key of Object.keys(state.tracks)) if (key.includes(`:${phase.name}:`)) delete state.tracks[key];
  // A rollout-wide trigger's failureLimit counts per phase unless its failureScope is the rollout.
  for (const trigger of plan.triggers) {
    const track = state.tracks[`trigger:${trigger.name}`];
    const scope = (trigger.when as { failureScope?: 'phase' | 'rollout' }).failureScope ?? 'phase';
    if (track?.failures !== undefined && scope === 'phase') {
      track.failures = undefined;
      track.satisfied = false;
    }
  }
  state.phaseIndex = index;
  state.phaseEnteredAt = state.now;
  state.percent = phase.percent;
  state.waits = [];
  state.waitingFor = [];
  setStatus(run, 'running');
  for (const [key, latest] of Object.entries(state.latest)) state.baselines[`phase-start:${key}`] = latest.value;
  log(run, index === 0 ? 'enter-phase' : 'advance', `${index === 0 ? 'entered' : 'advanced to'} ${phase.name} at ${phase.percent}% (from ${from}%): ${why}`, undefined, true);
  notify(run, index === 0 ? 'phase-entered' : 'phase-advanced', `Rollout ${plan.name}: ${phase.name} at ${phase.percent}%`);
  for (const t of compiled.tasks) if (t.def.on === 'enter') runTask(run, t.def, phase.name);
  if (index === plan.phases.length - 1) state.stage = 'final';
}

/** The go rationale for entering phase `index`: what was checked. */
function rationale(run: Run, index: number): string {
  const { plan, state } = run;
  const prev = currentPhase(run);
  const parts: string[] = [];
  const detail = ({ key, check, timing }: KeyedCheck) => state.tracks[key]?.detail ?? isSatisfied(run, key, check.when, timing).detail;
  if (prev) {
    const { def } = prev;
    if (prev.minMs !== undefined && state.now - state.phaseEnteredAt >= prev.minMs) parts.push(`${def.minDuration} minimum in ${prev.name} elapsed`);
    else if (def.calendar?.endOfDay) parts.push(`end of day ${def.calendar.endOfDay} ${def.calendar.timezone ?? 'UTC'} reached in ${prev.name} (before its ${def.minDuration} minimum)`);
    const until = prev.until.map((c) => `${c.check.name} (${detail(c)})`);
    if (until.length) parts.push(`until ${until.join('; ')}`);
    const gates = prev.gates.map((c) => `${c.check.name} ok (${detail(c)})`);
    if (gates.length) parts.push(`gates: ${gates.join('; ')}`);
  }
  const next = run.compiled.phases[index];
  const entry = (next?.entry ?? []).map((c) => `${c.check.name} ok (${detail(c)})`);
  if (entry.length) parts.push(`entry: ${entry.join('; ')}`);
  const tokens = plan.tokens.filter((t) => t.before === next?.name && state.tokensConsumed[t.id]);
  for (const t of tokens) parts.push(`token ${t.id} consumed by ${state.tokensConsumed[t.id]?.by} (${t.role}) with ${t.requires.join(', ')} holding`);
  const approvals = (next?.approvals ?? [])
    .filter((a) => a.at !== 'exit')
    .map((a) => `${a.role}: ${validApprovers(state, a.role, `phase:${next?.name}`, undefined, state.now, false).join(', ')}`);
  if (approvals.length) parts.push(`approved by ${approvals.join('; ')}`);
  // Approvals needed to leave the previous phase were given there; name who gave them.
  const exits = (prev?.approvals ?? [])
    .filter((a) => a.at === 'exit')
    .map((a) => `${a.role}: ${validApprovers(state, a.role, `phase:${prev?.name}`, undefined, state.now, false).join(', ')}`);
  if (exits.length) parts.push(`${prev?.name} exit approved by ${exits.join('; ')}`);
  return parts.join('; ') || 'no conditions';
}

/** promote --force: every skipped phase's configuration applied, then straight into the last phase. */
export function forcePromote(run: Run, who: string): void {
  const { plan } = run;
  // Apply every skipped phase's configuration so the last phase runs as planned.
  for (let i = run.state.phaseIndex + 1; i < plan.phases.length - 1; i++) {
    for (const change of plan.phases[i]?.configChanges ?? []) {
      run.state.compensations.push({ kind: 'config', phase: plan.phases[i]?.name ?? '', key: change.key, value: change.from, provider: change.provider });
      run.commands.push({ type: 'set-config', key: change.key, value: change.to, provider: change.provider, reason: `promote --force by ${who}` });
    }
  }
  run.state.hold = undefined;
  run.state.pause = undefined;
  enterPhase(run, plan.phases.length - 1, `promote --force by ${who}`);
}

/** A budget over its limit (or co-sign threshold) in this phase holds the rollout until its co-signer decides. */
function budgetHolds(run: Run): void {
  const { plan, state } = run;
  const phase = currentPhase(run);
  if (!phase) return;
  for (const b of plan.budgets) {
    if (!b.phases.includes(phase.name)) continue;
    // Spend read from a metric is read at every check (it grows); spend reported by message is the last total sent.
    const fromMetric = b.spend ? state.latest[b.spend.metric]?.value : undefined;
    const spent = state.rulesV3 && fromMetric !== undefined ? fromMetric : (state.spend[b.name] ?? fromMetric ?? 0);
    state.spend[b.name] = spent;
    const above = b.cosign?.above ?? b.limit;
    if (spent <= above) continue;
    const cosigned = b.cosign && validApprovers(state, b.cosign.role, `budget:${b.name}`, undefined, state.now, false).length > 0;
    if (cosigned || state.notified[`budget:${b.name}`] !== undefined) continue;
    state.notified[`budget:${b.name}`] = state.now;
    notify(run, 'budget-exceeded', `Budget ${b.name}: ${b.currency} ${spent} spent, above ${above}${b.cosign ? `; needs ${b.cosign.role} co-sign: canary approve <rollout-id> --role ${b.cosign.role}` : ''}`);
    hold(run, `budget ${b.name} spend ${b.currency} ${spent} is above ${above}${b.cosign ? `: needs a ${b.cosign.role} co-sign` : ''}`, `budget:${b.name}`, {
      ...(b.cosign ? { decidedBy: [b.cosign.role] } : {}),
      default: 'stay',
    });
  }
}
