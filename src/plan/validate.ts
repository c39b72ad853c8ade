/**
 * Cross-field checks that the schema alone cannot express: names are unique, every reference resolves, traffic only
 * grows, gates fit inside their phase, quorums can be reached, every phase can be reached, and secrets stay out.
 * Pure: takes a schema-valid plan, returns problems with their paths.
 */
import { formatDuration as formatMs, tryParseDuration } from '../domain/duration';
import { MAX_DURATION_MS, type CheckDef, type ConditionDef, type Plan, type TaskDef, type TriggerDef } from './schema';

export interface PlanProblem {
  path: (string | number)[];
  message: string;
}

type Path = (string | number)[];

const ms = (text: string | undefined) => (text === undefined ? undefined : tryParseDuration(text));

/** Returns every cross-field problem in a schema-valid plan; an empty list means the plan may run. */
export function checkPlan(plan: Plan): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const report = (path: Path, message: string) => problems.push({ path, message });

  const metricNames = new Set(Object.keys(plan.metrics));
  const metricSources = new Set(Object.keys(plan.providers.metrics));
  const flagProviders = new Set(Object.keys(plan.providers.flags));
  const roles = new Set(Object.keys(plan.roles));
  const channels = new Set(Object.keys(plan.channels));
  const phaseNames = new Set(plan.phases.map((p) => p.name));
  const checkNames = new Set(plan.checks.map((c) => c.name));
  const sharedGateNames = new Set(plan.gates.map((g) => g.name));
  const budgetNames = new Set(plan.budgets.map((b) => b.name));

  const known = (kind: string, set: Set<string>) => (name: string, path: Path) => {
    if (!set.has(name)) {
      const declared = [...set];
      report(path, `${kind} "${name}" is not declared${declared.length ? ` (declared: ${declared.join(', ')})` : ''}`);
    }
  };
  const metric = known('metric', metricNames);
  const role = known('role', roles);
  const channel = known('channel', channels);
  const phase = known('phase', phaseNames);
  const check = known('check', checkNames);
  const budget = known('budget', budgetNames);
  const channelOrRole = (name: string, path: Path) => {
    if (!channels.has(name) && !roles.has(name)) report(path, `"${name}" is neither a declared channel nor a declared role`);
  };

  // --- providers, metrics, secrets
  known('flag provider', flagProviders)(plan.target.provider, ['target', 'provider']);
  for (const [name, def] of Object.entries(plan.metrics)) {
    known('metric source', metricSources)(def.source, ['metrics', name, 'source']);
  }
  for (const [name, source] of Object.entries(plan.providers.metrics)) {
    if (source.type !== 'scenario') secretFreeUrl(source.url, ['providers', 'metrics', name, 'url'], report);
  }
  for (const [name, provider] of Object.entries(plan.providers.flags)) {
    if (provider.type !== 'flagd-file') secretFreeUrl(provider.url, ['providers', 'flags', name, 'url'], report);
  }

  // --- names are unique
  unique(plan.phases.map((p) => p.name), ['phases'], 'phase', report);
  unique(plan.checks.map((c) => c.name), ['checks'], 'check', report);
  unique(plan.gates.map((g) => g.name), ['gates'], 'gate', report);
  unique(plan.triggers.map((t) => t.name), ['triggers'], 'trigger', report);
  unique(plan.budgets.map((b) => b.name), ['budgets'], 'budget', report);
  unique(plan.tokens.map((t) => t.id), ['tokens'], 'token', report, 'id');

  // --- roles
  const quorum = (roleName: string, count: number, path: Path) => {
    const def = plan.roles[roleName];
    if (def && count > def.members.length) {
      report(path, `quorum ${count} can never be reached: role "${roleName}" has ${def.members.length} member(s)`);
    }
  };

  // --- conditions, wherever they appear
  const condition = (cond: ConditionDef, path: Path, phaseMinMs?: number) => {
    switch (cond.kind) {
      case 'threshold':
      case 'relative':
      case 'anomaly':
        metric(cond.metric, [...path, 'metric']);
        if (cond.kind === 'relative' && 'metric' in cond.baseline) metric(cond.baseline.metric, [...path, 'baseline', 'metric']);
        sustain(cond, path, phaseMinMs, report);
        break;
      case 'freshness':
      case 'absence':
        metric(cond.metric, [...path, 'metric']);
        break;
      case 'incidents':
        if (!cond.atMost && !cond.atLeast) report(path, 'an incidents condition needs atMost or atLeast');
        break;
      case 'diff':
        metric(cond.canary, [...path, 'canary']);
        metric(cond.stable, [...path, 'stable']);
        if (cond.samplesMetric) metric(cond.samplesMetric, [...path, 'samplesMetric']);
        break;
      case 'value':
        if (cond.from === 'metric') metric(cond.name, [...path, 'name']);
        break;
      case 'attestation':
        if (cond.role) role(cond.role, [...path, 'role']);
        break;
      case 'approval':
        role(cond.role, [...path, 'role']);
        quorum(cond.role, cond.quorum, [...path, 'quorum']);
        break;
      case 'budget':
        budget(cond.budget, [...path, 'budget']);
        break;
      case 'http':
      case 'command':
      case 'alert':
        break;
    }
  };
  const checks = (list: CheckDef[] | undefined, path: Path, what: string, phaseMinMs?: number) => {
    if (!list) return;
    unique(list.map((c) => c.name), path, what, report);
    list.forEach((c, i) => condition(c.when, [...path, i, 'when'], phaseMinMs));
  };
  const triggers = (list: TriggerDef[] | undefined, path: Path) => {
    if (!list) return;
    list.forEach((t, i) => {
      const at: Path = [...path, i];
      condition(t.when, [...at, 'when']);
      t.notify?.forEach((c, j) => channel(c, [...at, 'notify', j]));
      if (t.hold && t.action !== 'hold') report([...at, 'hold'], `hold settings apply only to action "hold", not "${t.action}"`);
      t.hold?.decidedBy?.forEach((r, j) => role(r, [...at, 'hold', 'decidedBy', j]));
      tasks(t.tasks, [...at, 'tasks']);
      // A trigger's runbook starts when it fires; there is no phase for it to enter, leave or repeat in.
      t.tasks?.forEach((task, j) => {
        if (task.on !== 'enter') report([...at, 'tasks', j, 'on'], `a trigger's tasks start when it fires: on must be "enter" (or left out), got "${task.on}"`);
      });
    });
  };
  const tasks = (list: TaskDef[] | undefined, path: Path) => {
    if (!list) return;
    unique(list.map((t) => t.name), path, 'task', report);
    list.forEach((t, i) => {
      const at: Path = [...path, i];
      if (t.on === 'every' && !t.every) report([...at, 'every'], 'required with on: every — how often the task runs, e.g. "15m"');
      if (t.on !== 'every' && t.every) report([...at, 'on'], `"every" is set, so on must be "every", got "${t.on}"`);
      if (t.on === 'daily' && !t.at) report([...at, 'at'], 'required with on: daily — the time of day, e.g. "09:00"');
      if (t.repeatFor !== undefined && t.on !== 'every' && t.on !== 'daily') {
        report([...at, 'repeatFor'], `repeatFor limits a repeating task: on must be "every" or "daily", got "${t.on}"`);
      }
      if (t.run.type === 'notify') t.run.channels.forEach((c, j) => channel(c, [...at, 'run', 'channels', j]));
      if (t.run.type === 'snapshot') t.run.metrics?.forEach((m, j) => metric(m, [...at, 'run', 'metrics', j]));
      if (t.run.type === 'manual' && t.run.role) role(t.run.role, [...at, 'run', 'role']);
    });
  };

  checks(plan.checks, ['checks'], 'check');
  plan.preconditions.forEach((name, i) => check(name, ['preconditions', i]));
  checks(plan.gates, ['gates'], 'gate');
  triggers(plan.triggers, ['triggers']);

  plan.tokens.forEach((token, i) => {
    role(token.role, ['tokens', i, 'role']);
    token.requires.forEach((name, j) => check(name, ['tokens', i, 'requires', j]));
    if (token.before) phase(token.before, ['tokens', i, 'before']);
  });

  // --- phases
  let previousPercent = -1;
  let permanentAt: number | undefined;
  plan.phases.forEach((p, i) => {
    const at: Path = ['phases', i];
    const minMs = ms(p.minDuration);
    const maxMs = ms(p.maxDuration);
    if (permanentAt !== undefined) {
      report([...at, 'name'], `phase "${p.name}" can never be reached: phase "${plan.phases[permanentAt]?.name}" before it is permanent`);
    }
    if (p.permanent) permanentAt ??= i;
    if (!plan.allowDecreasingPercent && p.percent <= previousPercent && !(p.percent === 0 && previousPercent === 0 && i === 0)) {
      report([...at, 'percent'], `traffic must increase from phase to phase: ${p.percent}% follows ${previousPercent}% (set allowDecreasingPercent: true if intended)`);
    }
    previousPercent = p.percent;
    if (minMs !== undefined && maxMs !== undefined && maxMs < minMs) {
      report([...at, 'maxDuration'], `phase "${p.name}" can never be completed: maxDuration ${p.maxDuration} is shorter than minDuration ${p.minDuration}`);
    }
    p.until?.forEach((name, j) => check(name, [...at, 'until', j]));
    p.useGates?.forEach((name, j) => {
      if (!sharedGateNames.has(name)) report([...at, 'useGates', j], `gate "${name}" is not declared under gates`);
    });
    checks(p.entry, [...at, 'entry'], 'entry check');
    checks(p.gates, [...at, 'gates'], 'gate', minMs);
    // Shared gates apply to this phase too: they must fit in its minimum duration.
    if (minMs !== undefined) {
      plan.gates.forEach((g, j) => {
        if (p.useGates && !p.useGates.includes(g.name)) return;
        const need = sustainMs(g.when);
        if (need !== undefined && need > minMs) {
          report(['gates', j, 'when'], `gate "${g.name}" needs ${formatMs(need)} of data but phase "${p.name}" lasts at least only ${p.minDuration}; it would hold the phase past its minimum`);
        }
      });
    }
    p.approvals?.forEach((a, j) => {
      role(a.role, [...at, 'approvals', j, 'role']);
      quorum(a.role, a.quorum, [...at, 'approvals', j, 'quorum']);
      a.escalate?.to.forEach((target, k) => channelOrRole(target, [...at, 'approvals', j, 'escalate', 'to', k]));
    });
    triggers(p.triggers, [...at, 'triggers']);
    tasks(p.tasks, [...at, 'tasks']);
    p.configChanges?.forEach((c, j) => {
      if (c.provider) known('flag provider', flagProviders)(c.provider, [...at, 'configChanges', j, 'provider']);
    });
    p.calendar?.allowedWindows?.forEach((w, j) => {
      if (w.from === w.to) report([...at, 'calendar', 'allowedWindows', j], `an empty window (${w.from}–${w.to}): the phase could never change inside it`);
    });
  });

  // --- budgets
  plan.budgets.forEach((b, i) => {
    b.phases.forEach((name, j) => phase(name, ['budgets', i, 'phases', j]));
    if (b.spend) metric(b.spend.metric, ['budgets', i, 'spend', 'metric']);
    if (b.cosign) role(b.cosign.role, ['budgets', i, 'cosign', 'role']);
  });

  // --- controls, rollback, notifications, after 100%
  plan.controls.forcePromote?.roles.forEach((r, i) => role(r, ['controls', 'forcePromote', 'roles', i]));
  plan.controls.operators?.forEach((r, i) => role(r, ['controls', 'operators', i]));
  plan.controls.safety?.forEach((r, i) => role(r, ['controls', 'safety', i]));
  if (plan.controls.circuitBreaker?.when) condition(plan.controls.circuitBreaker.when, ['controls', 'circuitBreaker', 'when']);
  if (plan.controls.cohortFlag && !plan.controls.cohortFlag.includes('{name}')) {
    report(['controls', 'cohortFlag'], `a per-cohort flag pattern must contain {name}, got "${plan.controls.cohortFlag}"`);
  }
  checks(plan.rollback.verify?.checks, ['rollback', 'verify', 'checks'], 'rollback check');
  tasks(plan.rollback.tasks, ['rollback', 'tasks']);
  plan.notifications.forEach((n, i) => n.channels.forEach((c, j) => channel(c, ['notifications', i, 'channels', j])));
  const after = plan.afterFull;
  if (after) {
    const last = plan.phases[plan.phases.length - 1];
    if (last && last.percent !== 100) report(['afterFull'], `afterFull applies after 100%, but the last phase "${last.name}" is at ${last.percent}%`);
    tasks(after.stabilization?.tasks, ['afterFull', 'stabilization', 'tasks']);
    checks(after.stabilization?.gates, ['afterFull', 'stabilization', 'gates'], 'stabilization gate');
    checks(after.successCriteria?.checks, ['afterFull', 'successCriteria', 'checks'], 'success criterion');
    tasks(after.refreeze, ['afterFull', 'refreeze']);
    const minStab = ms(after.stabilization?.minDuration);
    const stab = ms(after.stabilization?.duration);
    if (minStab !== undefined && stab !== undefined && minStab > stab) {
      report(['afterFull', 'stabilization', 'minDuration'], `minDuration ${after.stabilization?.minDuration} is longer than duration ${after.stabilization?.duration}`);
    }
  }
  return problems;
}

/** How much time a condition needs before it can be true: its "for", or N windows. */
export function sustainMs(cond: ConditionDef): number | undefined {
  if (cond.kind !== 'threshold' && cond.kind !== 'relative' && cond.kind !== 'anomaly') return undefined;
  const forMs = ms(cond.for);
  const windowMs = ms(cond.window);
  if (forMs !== undefined) return forMs;
  if (cond.consecutiveWindows !== undefined && windowMs !== undefined) return cond.consecutiveWindows * windowMs;
  return windowMs;
}

function sustain(
  cond: Extract<ConditionDef, { kind: 'threshold' | 'relative' | 'anomaly' }>,
  path: Path,
  phaseMinMs: number | undefined,
  report: (path: Path, message: string) => void,
): void {
  if (cond.for !== undefined && cond.consecutiveWindows !== undefined) {
    report([...path, 'consecutiveWindows'], 'use either "for" or "consecutiveWindows", not both');
  }
  if (cond.failureLimit !== undefined && (cond.for !== undefined || cond.consecutiveWindows !== undefined)) {
    report([...path, 'failureLimit'], 'use failureLimit (a total of failed evaluations) without "for" or "consecutiveWindows"');
  }
  if ((cond.failureLimit !== undefined || cond.failureScope !== undefined) && !path.includes('triggers')) {
    report([...path, cond.failureLimit !== undefined ? 'failureLimit' : 'failureScope'], 'failureLimit counts failed measurements toward a trigger; it is allowed on triggers only');
  }
  if (cond.consecutiveWindows !== undefined && cond.window === undefined) {
    report([...path, 'window'], 'required with consecutiveWindows: the length of each window, e.g. "5m"');
  }
  const need = sustainMs(cond);
  if (cond.for === undefined && cond.consecutiveWindows !== undefined && need !== undefined && need > MAX_DURATION_MS) {
    report([...path, 'consecutiveWindows'], `${cond.consecutiveWindows} windows of ${cond.window} need ${formatMs(need)} of data, more than ${formatMs(MAX_DURATION_MS)}; use fewer or shorter windows`);
  }
  if (phaseMinMs !== undefined && need !== undefined && need > phaseMinMs) {
    report([...path, cond.for !== undefined ? 'for' : 'window'], `needs ${formatMs(need)} of data, longer than the phase's minimum duration ${formatMs(phaseMinMs)}`);
  }
}

function unique(names: string[], path: Path, what: string, report: (path: Path, message: string) => void, field = 'name'): void {
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    const first = seen.get(name);
    if (first !== undefined) report([...path, i, field], `duplicate ${what} ${field} "${name}" (first at ${path.join('.')}[${first}])`);
    else seen.set(name, i);
  });
}

function secretFreeUrl(url: string, path: Path, report: (path: Path, message: string) => void): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return;
  }
  if (parsed.username || parsed.password) {
    report(path, 'credentials must not be written into a URL; name the environment variable that holds them (e.g. auth.bearerTokenEnv)');
  }
  for (const key of parsed.searchParams.keys()) {
    if (/token|key|secret|password|auth/i.test(key)) {
      report(path, `the query parameter "${key}" looks like a secret; name the environment variable that holds it instead`);
    }
  }
}
