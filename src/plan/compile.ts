/**
 * Compiles a validated plan once into what the machine reads on every step (src/domain/compiled-plan.ts): durations
 * in milliseconds, typed track keys, per-phase gates, triggers, entry checks, approvals and tasks, and the conditions
 * and metrics in force at each position. Pure and deterministic: the workflow compiles the plan from its input on
 * every run (and on replay), the simulator and the tests the same way.
 */
import type {
  CompiledPhase,
  CompiledPlan,
  CompiledTask,
  HoldPolicy,
  KeyedCheck,
  KeyedCondition,
  KeyedTrigger,
  Stage,
} from '../domain/compiled-plan';
import { observedMetrics, positionKey, readsMetrics } from '../domain/compiled-plan';
import { checkKey, conditionTiming, metricsOf } from '../domain/conditions';
import { tryParseDuration } from '../domain/duration';
import type { CheckDef, ConditionDef, PhaseDef, Plan, TaskDef, TriggerDef } from '../domain/plan-schema';

/** http and command checks are re-run once their last result is older than this (or the analysis interval). */
const CHECK_REFRESH_MS = 5 * 60_000;
const STAGES: Stage[] = ['ramp', 'final', 'refreeze', 'stabilization', 'success-criteria', 'done'];

const msOf = (text: string | undefined): number | undefined => (text === undefined ? undefined : tryParseDuration(text));

function holdPolicy(hold: TriggerDef['hold']): HoldPolicy {
  return {
    ...(hold?.decidedBy ? { decidedBy: hold.decidedBy } : {}),
    ...(hold?.timeout !== undefined ? { timeout: hold.timeout, timeoutMs: msOf(hold.timeout) } : {}),
    default: hold?.default ?? 'stay',
  };
}

function keyedTrigger(key: string, trigger: TriggerDef): KeyedTrigger {
  return { key, trigger, timing: conditionTiming(trigger.when), metricDriven: readsMetrics(trigger.when), hold: holdPolicy(trigger.hold) };
}

function compileTask(task: TaskDef, scope: string): CompiledTask {
  return { def: task, name: task.name, key: `${scope}:${task.name}`, everyMs: msOf(task.every), repeatForMs: msOf(task.repeatFor) };
}

const keyed = (prefix: string, list: CheckDef[] | undefined): KeyedCheck[] =>
  (list ?? []).map((check) => ({ key: `${prefix}${check.name}`, check, timing: conditionTiming(check.when) }));

function compilePhase(plan: Plan, phase: PhaseDef, index: number, rolloutTriggers: KeyedTrigger[]): CompiledPhase {
  const shared = plan.gates.filter((g) => !phase.useGates || phase.useGates.includes(g.name));
  const pattern = plan.controls.cohortFlag;
  return {
    def: phase,
    index,
    name: phase.name,
    percent: phase.percent,
    minMs: msOf(phase.minDuration),
    maxMs: msOf(phase.maxDuration),
    timezone: phase.calendar?.timezone ?? 'UTC',
    gates: [...keyed(`gate:${phase.name}:`, shared), ...keyed(`gate:${phase.name}:`, phase.gates)],
    until: (phase.until ?? []).flatMap((name) => keyed('check:', plan.checks.filter((c) => c.name === name))),
    entry: keyed(`entry:${phase.name}:`, phase.entry),
    triggers: [...rolloutTriggers, ...(phase.triggers ?? []).map((t) => keyedTrigger(`trigger:${phase.name}:${t.name}`, t))],
    approvals: (phase.approvals ?? []).map((def) => ({
      def,
      role: def.role,
      quorum: def.quorum,
      at: def.at,
      expiresMs: msOf(def.expiresAfter),
      escalateMs: msOf(def.escalate?.after),
    })),
    tasks: (phase.tasks ?? []).map((t) => compileTask(t, phase.name)),
    cohortLevels: pattern ? Object.fromEntries((phase.cohorts ?? []).map((c) => [pattern.replace('{name}', c.name), c.percent ?? phase.percent])) : {},
  };
}

/** Every condition in the plan, in a stable order. */
function allConditionsOf(plan: Plan): ConditionDef[] {
  const whens = (list: CheckDef[] | undefined) => (list ?? []).map((c) => c.when);
  return [
    ...whens(plan.checks),
    ...whens(plan.gates),
    ...plan.triggers.map((t) => t.when),
    ...plan.phases.flatMap((p) => [...whens(p.entry), ...whens(p.gates), ...(p.triggers ?? []).map((t) => t.when)]),
    ...whens(plan.rollback.verify?.checks),
    ...whens(plan.afterFull?.stabilization?.gates),
    ...whens(plan.afterFull?.successCriteria?.checks),
  ];
}

export function compilePlan(plan: Plan): CompiledPlan {
  const rolloutTriggers = plan.triggers.map((t) => keyedTrigger(`trigger:${t.name}`, t));
  const phases = plan.phases.map((p, i) => compilePhase(plan, p, i, rolloutTriggers));
  const checksByName = new Map(keyed('check:', plan.checks).map((c) => [c.check.name, c]));
  const preconditions = plan.preconditions.flatMap((name) => checksByName.get(name) ?? []);
  const allConditions = allConditionsOf(plan);
  const after = plan.afterFull;
  const verify = keyed('verify:', plan.rollback.verify?.checks);
  const stabilization = after?.stabilization
    ? {
        durationMs: msOf(after.stabilization.duration) ?? 0,
        gates: keyed('stabilization:', after.stabilization.gates),
        tasks: after.stabilization.tasks.map((t) => compileTask(t, 'stabilization')),
      }
    : undefined;
  const successCriteria = after?.successCriteria ? { overMs: msOf(after.successCriteria.over) ?? 0, checks: keyed('success:', after.successCriteria.checks) } : undefined;

  const conditionAt = (key: string, when: ConditionDef, polarity: KeyedCondition['polarity']): KeyedCondition => ({ key, when, polarity, timing: conditionTiming(when) });
  /** The metric conditions folded into each observation at a position. */
  const tokenPhase = (before: string | undefined) => (before === undefined ? 0 : plan.phases.findIndex((p) => p.name === before));
  const activeAt = (index: number, stage: Stage, rollingBack: boolean, observeChecks: boolean): KeyedCondition[] => {
    const out: KeyedCondition[] = [];
    const add = (key: string, when: ConditionDef, polarity: KeyedCondition['polarity']) => {
      if (readsMetrics(when)) out.push(conditionAt(key, when, polarity));
    };
    // A check the rollout waits for elsewhere too (a precondition that is also a token's) is observed once. (Gates
    // are not deduplicated: a phase gate named like a shared one shares its track, and both are folded into it.)
    const addOnce = (key: string, when: ConditionDef, onDemand: boolean) => {
      if (readsMetrics(when) && !out.some((c) => c.key === key)) out.push({ ...conditionAt(key, when, 'gate'), ...(onDemand ? { onDemand } : {}) });
    };
    if (rollingBack) {
      for (const { key, check } of verify) add(key, check.when, 'gate');
      return out;
    }
    const phase = phases[index];
    for (const { key, trigger } of phase?.triggers ?? rolloutTriggers) add(key, trigger.when, 'trigger');
    // The circuit breaker's condition is read at every evaluation while traffic reaches the canary.
    const breaker = plan.controls.circuitBreaker?.when;
    if (breaker && phase) add('circuit-breaker', breaker, 'trigger');
    if (phase && (stage === 'ramp' || stage === 'final')) for (const { key, check } of phase.gates) add(key, check.when, 'gate');
    const next = phases[index + 1];
    if (next && stage === 'ramp') for (const { key, check } of next.entry) add(key, check.when, 'gate');
    if (index < 0) for (const { key, check } of preconditions) add(key, check.when, 'gate');
    if (observeChecks) {
      // A phase's `until` checks while it runs, and the checks of every token still ahead: the rollout waits for
      // their answers, so they are observed like gates.
      if (phase && (stage === 'ramp' || stage === 'final')) for (const { key, check } of phase.until) addOnce(key, check.when, false);
      for (const token of plan.tokens) {
        if (tokenPhase(token.before) <= index) continue;
        for (const name of token.requires) {
          const required = checksByName.get(name);
          if (required) addOnce(required.key, required.check.when, true);
        }
      }
    }
    if (stage === 'stabilization') for (const { key, check } of stabilization?.gates ?? []) add(key, check.when, 'gate');
    if (stage === 'success-criteria') for (const { key, check } of successCriteria?.checks ?? []) add(key, check.when, 'gate');
    for (const b of plan.budgets) {
      if (b.spend && phase && b.phases.includes(phase.name)) out.push({ key: `spend:${b.name}`, when: { kind: 'threshold', metric: b.spend.metric, op: '>=', value: 0 }, polarity: 'gate', timing: {} });
    }
    return out;
  };

  const compiled: CompiledPlan = {
    source: plan,
    intervalMs: msOf(plan.analysis.interval) ?? 30_000,
    inconclusiveLimitMs: msOf(plan.analysis.inconclusiveLimit) ?? Infinity,
    checkRefreshMs: Math.max(CHECK_REFRESH_MS, msOf(plan.analysis.interval) ?? 0),
    phases,
    triggers: rolloutTriggers,
    checksByName,
    ...(plan.controls.circuitBreaker?.when ? { circuitBreaker: { when: plan.controls.circuitBreaker.when, timing: conditionTiming(plan.controls.circuitBreaker.when) } } : {}),
    preconditions,
    allConditions,
    anomalyMetrics: new Set(allConditions.flatMap((c) => (c.kind === 'anomaly' ? [c.metric] : []))),
    flagReads: [...new Set(allConditions.flatMap((c) => (c.kind === 'value' && c.from === 'flag' ? [c.name] : [])))].sort(),
    budgets: plan.budgets,
    killFlags: [...new Set([...plan.target.flags, ...phases.flatMap((p) => [...plan.target.flags, ...Object.keys(p.cohortLevels)])])],
    rollback: { withinMs: msOf(plan.rollback.verify?.within), verify },
    ...(stabilization ? { stabilization } : {}),
    ...(successCriteria ? { successCriteria } : {}),
    refreeze: (after?.refreeze ?? []).map((t) => compileTask(t, 'refreeze')),
    active: new Map(),
    observed: new Map(),
    activeBeforeChecks: new Map(),
    observedBeforeChecks: new Map(),
    checksInForce: new Map(),
    checksInForceAt: new Map(),
    checkConditions: new Map(
      allConditions.flatMap((c) => (c.kind === 'http' || c.kind === 'command' ? [[checkKey(c), c] as const] : [])),
    ),
    beforeRolloutKeys: new Map(),
  };

  for (let index = -1; index < phases.length; index++) {
    for (const stage of STAGES) {
      for (const rollingBack of [false, true]) {
        const key = positionKey(index, stage, rollingBack);
        for (const [observeChecks, active, observed] of [
          [true, compiled.active, compiled.observed],
          [false, compiled.activeBeforeChecks, compiled.observedBeforeChecks],
        ] as const) {
          const conditions = activeAt(index, stage, rollingBack, observeChecks);
          (active as Map<string, KeyedCondition[]>).set(key, conditions);
          (observed as Map<string, string[]>).set(key, observedMetrics(compiled, conditions.map((c) => c.when), index));
        }
      }
    }
    (compiled.checksInForce as Map<number, string[]>).set(index, checksInForce(plan, compiled, index));
    for (const stage of STAGES) {
      for (const rollingBack of [false, true]) {
        (compiled.checksInForceAt as Map<string, string[]>).set(positionKey(index, stage, rollingBack), checksInForceAt(plan, compiled, index, stage, rollingBack));
      }
    }
  }
  const metrics = new Set([...Object.keys(plan.metrics), ...allConditions.flatMap((c) => metricsOf(c)), ...plan.budgets.flatMap((b) => (b.spend ? [b.spend.metric] : []))]);
  for (const metric of metrics) (compiled.beforeRolloutKeys as Map<string, string>).set(metric, `before-rollout:${metric}`);
  return compiled;
}

/** Keys of the http and command conditions in the gates, entry checks, triggers and until checks in force at `index`. */
/** The http and command checks the rollout waits for at a position (rules v3). */
function checksInForceAt(plan: Plan, compiled: CompiledPlan, index: number, stage: Stage, rollingBack: boolean): string[] {
  const keysOf = (conds: ConditionDef[]) => [...new Set(conds.flatMap((c) => (c.kind === 'http' || c.kind === 'command' ? [checkKey(c)] : [])))];
  if (rollingBack) return keysOf(compiled.rollback.verify.map((v) => v.check.when));
  if (stage === 'stabilization') return keysOf([...(compiled.stabilization?.gates ?? []).map((g) => g.check.when), ...compiled.triggers.map((t) => t.trigger.when)]);
  if (stage === 'success-criteria') return keysOf([...(compiled.successCriteria?.checks ?? []).map((c) => c.check.when), ...compiled.triggers.map((t) => t.trigger.when)]);
  const phaseIndexOf = (name: string | undefined) => (name === undefined ? 0 : plan.phases.findIndex((p) => p.name === name));
  const tokenChecks = plan.tokens
    .filter((t) => phaseIndexOf(t.before) > index)
    .flatMap((t) => t.requires.flatMap((name) => compiled.checksByName.get(name)?.check.when ?? []));
  return [...new Set([...checksInForce(plan, compiled, index), ...keysOf(tokenChecks)])];
}

function checksInForce(plan: Plan, compiled: CompiledPlan, index: number): string[] {
  const phase = compiled.phases[index];
  const next = compiled.phases[index + 1];
  const conds = [
    ...(phase?.gates ?? []).map((g) => g.check.when),
    ...(next?.entry ?? []).map((c) => c.check.when),
    ...(phase?.triggers ?? compiled.triggers).map((t) => t.trigger.when),
    // Preconditions gate the start only: once the first phase is entered they are not re-run.
    ...plan.checks.filter((c) => (index < 0 && plan.preconditions.includes(c.name)) || phase?.def.until?.includes(c.name)).map((c) => c.when),
  ];
  return [...new Set(conds.flatMap((c) => (c.kind === 'http' || c.kind === 'command' ? [checkKey(c)] : [])))];
}
