/**
 * src/plan/compile.ts: a validated plan compiled once into what the machine reads on every step — durations in
 * milliseconds, typed track keys, per-phase gates, triggers, entry checks, `until` checks, approvals and tasks, the
 * flags a kill turns off, and for every position (phase, stage, rolling back) the metric conditions folded into each
 * observation, the metrics observed and the http and command checks in force.
 */
import { positionKey, type CompiledPlan, type Stage } from '../../src/domain/compiled-plan';
import type { Plan } from '../../src/plan/schema';
import { compilePlan } from '../../src/plan/compile';
import { testPlan } from '../helpers/test-plan';

const METRICS = { error_rate: 'ratio', p95: 'ms', baseline_errors: 'ratio', adoption: 'ratio', readiness: 'count', cost: 'USD', c_err: 'ratio', s_err: 'ratio', uptime: 'ratio' };

const plan: Plan = testPlan(
  `
analysis: { interval: 1m, inconclusiveLimit: 10m }
roles: { ceo: { members: [ceo@example.com] }, cfo: { members: [cfo@example.com] }, rm: { members: [rm@example.com] } }
channels: { pager: { type: log } }
controls:
  cohortFlag: "cohort.{name}.on"
  circuitBreaker: { consecutiveErrors: 3, when: { kind: threshold, metric: error_rate, op: ">", value: 0.5 } }
checks:
  - { name: suite, when: { kind: command, run: npm test } }
  - { name: base-ok, when: { kind: threshold, metric: baseline_errors, op: "<", value: 0.01 } }
  - { name: adoption, when: { kind: threshold, metric: adoption, op: ">=", value: 0.2 } }
  - { name: evidence, when: { kind: value, name: EVIDENCE, equals: 1 } }
  - { name: token-ready, when: { kind: threshold, metric: readiness, op: ">=", value: 1 } }
preconditions: [suite, base-ok]
tokens: [{ id: GO, role: ceo, before: half, requires: [token-ready, evidence] }]
gates:
  - { name: p95-ok, when: { kind: threshold, metric: p95, op: "<=", value: 500, interval: 5m } }
  - { name: no-sev1, when: { kind: incidents, atMost: { Sev-1: 0 } } }
triggers:
  - { name: errors, when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }, action: rollback }
  - { name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold, hold: { decidedBy: [ceo], timeout: 15m, default: revert-phase } }
budgets:
  - { name: canary, phases: [canary], limit: 300, spend: { metric: cost } }
phases:
  - name: canary
    percent: 5
    minDuration: 90m
    maxDuration: 1d
    until: [adoption]
    cohorts: [{ name: staff }, { name: pilots, percent: 1 }]
    entry: [{ name: healthz, when: { kind: http, url: "http://localhost/healthz" } }]
    gates: [{ name: diff-ok, when: { kind: diff, canary: c_err, stable: s_err, tolerance: 0.01, minSamples: 100 } }]
    triggers: [{ name: latency, when: { kind: threshold, metric: p95, op: ">", value: 900, for: 2m }, action: alert }]
    tasks:
      - { name: snap, on: every, every: 15m, repeatFor: 1h, run: { type: snapshot, metrics: [p95, adoption] } }
      - { name: warm, run: { type: http, url: "http://localhost/warm" } }
  - name: half
    percent: 50
    useGates: [no-sev1]
    calendar: { timezone: Europe/Berlin }
    cohorts: [{ name: staff }, { name: partners }]
    entry:
      - { name: latency-ok, when: { kind: threshold, metric: p95, op: "<", value: 400 } }
      - { name: smoke, when: { kind: command, run: ./smoke.sh } }
    approvals: [{ role: cfo, expiresAfter: 24h, escalate: { after: 2h, to: [pager] } }]
    gates: [{ name: flag-on, when: { kind: value, name: payments-v2, from: flag, equals: true } }]
    triggers: [{ name: spike, when: { kind: anomaly, metric: p95, sigma: 3, lookback: 1h }, action: alert }]
  - { name: full, percent: 100, useGates: [] }
rollback: { verify: { within: 5m, checks: [{ name: calm, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }] } }
afterFull:
  refreeze: [{ name: tag, run: { type: command, command: git tag golden } }]
  stabilization:
    duration: 7d
    gates: [{ name: stable-p95, when: { kind: threshold, metric: p95, op: "<", value: 500 } }]
    tasks: [{ name: review, on: daily, at: '09:00', run: { type: manual, role: rm } }]
  successCriteria: { over: 30d, checks: [{ name: uptime, when: { kind: threshold, metric: uptime, op: ">=", value: 0.999 } }] }
`,
  { id: 'compile', metrics: METRICS },
);
const compiled: CompiledPlan = compilePlan(plan);
const [canary, half, full] = compiled.phases;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('durations are compiled to milliseconds', () => {
  it('of the analysis settings; http and command checks are refreshed every five minutes or every interval if longer', () => {
    expect([compiled.intervalMs, compiled.inconclusiveLimitMs, compiled.checkRefreshMs]).toEqual([MINUTE, 10 * MINUTE, 5 * MINUTE]);
    const slow = compilePlan(testPlan('analysis: { interval: 10m }\nphases: [{ name: a, percent: 100 }]'));
    expect(slow.checkRefreshMs).toBe(10 * MINUTE);
  });

  it('with the defaults of a plan that sets none (30s interval, 15m inconclusive limit)', () => {
    const bare = compilePlan(testPlan('phases: [{ name: a, percent: 100 }]'));
    expect([bare.intervalMs, bare.inconclusiveLimitMs]).toEqual([30_000, 15 * MINUTE]);
  });

  it.each<[string, unknown, unknown]>([
    ['a phase’s minimum and maximum', [canary?.minMs, canary?.maxMs], [90 * MINUTE, DAY]],
    ['a phase without them: undefined, not zero', [half?.minMs, half?.maxMs], [undefined, undefined]],
    ['an approval’s expiry and escalation', [half?.approvals[0]?.expiresMs, half?.approvals[0]?.escalateMs], [DAY, 2 * HOUR]],
    ['a task’s period and repeatFor', [canary?.tasks[0]?.everyMs, canary?.tasks[0]?.repeatForMs], [15 * MINUTE, HOUR]],
    ['a hold’s timeout', compiled.triggers[1]?.hold, { decidedBy: ['ceo'], timeout: '15m', timeoutMs: 15 * MINUTE, default: 'revert-phase' }],
    ['a hold without settings stays', compiled.triggers[0]?.hold, { default: 'stay' }],
    ['a condition’s own interval', compiled.active.get(positionKey(0, 'ramp', false))?.find((c) => c.key === 'gate:canary:p95-ok')?.timing.everyMs, 5 * MINUTE],
    ['the rollback verification bound', compiled.rollback.withinMs, 5 * MINUTE],
    ['stabilization and success criteria', [compiled.stabilization?.durationMs, compiled.successCriteria?.overMs], [7 * DAY, 30 * DAY]],
  ])('%s', (_what, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe('every condition and task gets its track key', () => {
  it.each<[string, string[] | undefined, string[]]>([
    ['shared gates first, then the phase’s own: gate:<phase>:<name>', canary?.gates.map((g) => g.key), ['gate:canary:p95-ok', 'gate:canary:no-sev1', 'gate:canary:diff-ok']],
    ['useGates picks the shared gates that apply', half?.gates.map((g) => g.key), ['gate:half:no-sev1', 'gate:half:flag-on']],
    ['useGates: [] applies none', full?.gates.map((g) => g.key), []],
    ['`until` checks: check:<name>, shared with preconditions and tokens', canary?.until.map((c) => c.key), ['check:adoption']],
    ['entry checks: entry:<phase>:<name>', half?.entry.map((c) => c.key), ['entry:half:latency-ok', 'entry:half:smoke']],
    ['rollout-wide triggers first, then the phase’s: trigger:<name>, trigger:<phase>:<name>', canary?.triggers.map((t) => t.key), ['trigger:errors', 'trigger:sev1', 'trigger:canary:latency']],
    ['a phase without triggers of its own has the rollout’s', full?.triggers.map((t) => t.key), ['trigger:errors', 'trigger:sev1']],
    ['preconditions: check:<name>', compiled.preconditions.map((c) => c.key), ['check:suite', 'check:base-ok']],
    ['rollback verification: verify:<name>', compiled.rollback.verify.map((c) => c.key), ['verify:calm']],
    ['stabilization gates and tasks: stabilization:<name>', [...(compiled.stabilization?.gates ?? []), ...(compiled.stabilization?.tasks ?? [])].map((c) => c.key), ['stabilization:stable-p95', 'stabilization:review']],
    ['success criteria: success:<name>', compiled.successCriteria?.checks.map((c) => c.key), ['success:uptime']],
    ['phase tasks: <phase>:<name>; re-freeze steps: refreeze:<name>', [...(canary?.tasks ?? []), ...compiled.refreeze].map((t) => t.key), ['canary:snap', 'canary:warm', 'refreeze:tag']],
  ])('%s', (_rule, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe('phases', () => {
  it('keep their place, name, traffic and time zone (UTC unless their calendar names one)', () => {
    expect(compiled.phases.map((p) => [p.index, p.name, p.percent, p.timezone])).toEqual([
      [0, 'canary', 5, 'UTC'],
      [1, 'half', 50, 'Europe/Berlin'],
      [2, 'full', 100, 'UTC'],
    ]);
  });

  it('give each cohort flag its cohort’s share, or the phase’s percent when the cohort names none', () => {
    expect(compiled.phases.map((p) => p.cohortLevels)).toEqual([{ 'cohort.staff.on': 5, 'cohort.pilots.on': 1 }, { 'cohort.staff.on': 50, 'cohort.partners.on': 50 }, {}]);
  });

  it('without a cohort flag pattern have no cohort flags', () => {
    const bare = compilePlan(testPlan('phases: [{ name: a, percent: 100, cohorts: [{ name: staff }] }]'));
    expect(bare.phases[0]?.cohortLevels).toEqual({});
    expect(bare.killFlags).toEqual(['checkout-v2']);
  });
});

describe('a kill turns off', () => {
  it('the target flags and every phase’s cohort flags, each once', () => {
    expect(compiled.killFlags).toEqual(['checkout-v2', 'cohort.staff.on', 'cohort.pilots.on', 'cohort.partners.on']);
  });
});

describe('triggers', () => {
  const kinds = compilePlan(
    testPlan(
      `
triggers:
  - { name: threshold, when: { kind: threshold, metric: error_rate, op: ">", value: 1 }, action: alert }
  - { name: freshness, when: { kind: freshness, metric: events, maxGap: 10m }, action: alert }
  - { name: absence, when: { kind: absence, metric: events, longerThan: 10m }, action: alert }
  - { name: value-metric, when: { kind: value, name: error_rate, from: metric, equals: 1 }, action: alert }
  - { name: value-reported, when: { kind: value, name: X, equals: 1 }, action: alert }
  - { name: incidents, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: alert }
  - { name: alert, when: { kind: alert, alert: SecurityIncident }, action: alert }
phases: [{ name: a, percent: 100 }]
`,
      { metrics: { error_rate: 'ratio', events: 'count' } },
    ),
  );

  it('that read metrics (and freshness and absence) are metric-driven; the others are judged on every event', () => {
    expect(Object.fromEntries(kinds.triggers.map((t) => [t.trigger.name, t.metricDriven]))).toEqual({
      threshold: true,
      freshness: true,
      absence: true,
      'value-metric': true,
      'value-reported': false,
      incidents: false,
      alert: false,
    });
  });
});

describe('the metric conditions folded into each observation, by position', () => {
  const keys = (index: number, stage: Stage, rollingBack = false, map = compiled.active) => map.get(positionKey(index, stage, rollingBack))?.map((c) => c.key);

  it.each<[string, number, Stage, boolean, string[]]>([
    ['before the first phase: rollout-wide triggers, metric preconditions and the checks of tokens ahead (not phase gates)', -1, 'ramp', false, ['trigger:errors', 'check:base-ok', 'check:token-ready']],
    [
      'in a phase: its triggers, the breaker, its gates, the next phase’s entry checks, its `until` checks, the checks of tokens ahead and the spend of budgets it counts toward',
      0,
      'ramp',
      false,
      ['trigger:errors', 'trigger:canary:latency', 'circuit-breaker', 'gate:canary:p95-ok', 'gate:canary:diff-ok', 'entry:half:latency-ok', 'check:adoption', 'check:token-ready', 'spend:canary'],
    ],
    ['in the phase a token comes before: its checks are no longer ahead', 1, 'ramp', false, ['trigger:errors', 'trigger:half:spike', 'circuit-breaker']],
    ['in the last phase: no next phase’s entry checks', 2, 'final', false, ['trigger:errors', 'circuit-breaker']],
    ['during stabilization: its gates instead of the phase’s', 2, 'stabilization', false, ['trigger:errors', 'circuit-breaker', 'stabilization:stable-p95']],
    ['during the success criteria: the criteria', 2, 'success-criteria', false, ['trigger:errors', 'circuit-breaker', 'success:uptime']],
    ['while rolling back, wherever it started: only what verifies the rollback', 0, 'ramp', true, ['verify:calm']],
    ['…also after 100%', 2, 'stabilization', true, ['verify:calm']],
  ])('%s', (_rule, index, stage, rollingBack, expected) => {
    expect(keys(index, stage, rollingBack)).toEqual(expected);
  });

  it('triggers are judged with trigger polarity, everything else with gate polarity', () => {
    const polarities = compiled.active.get(positionKey(0, 'ramp', false))?.map((c) => `${c.key} ${c.polarity}`);
    expect(polarities?.filter((p) => p.endsWith('trigger'))).toEqual(['trigger:errors trigger', 'trigger:canary:latency trigger', 'circuit-breaker trigger']);
  });

  it('for rollouts started before checks were observed: without `until` checks and the checks of tokens ahead', () => {
    expect(keys(0, 'ramp', false, compiled.activeBeforeChecks)).toEqual(['trigger:errors', 'trigger:canary:latency', 'circuit-breaker', 'gate:canary:p95-ok', 'gate:canary:diff-ok', 'entry:half:latency-ok', 'spend:canary']);
  });
});

describe('the metrics each observation asks for', () => {
  const observed = (index: number, stage: Stage, rollingBack = false, map = compiled.observed) => map.get(positionKey(index, stage, rollingBack));

  it.each<[string, string[] | undefined, string[]]>([
    ['what the conditions in force read, every budget’s spend metric, and the phase’s snapshot metrics — sorted', observed(0, 'ramp'), ['adoption', 'c_err', 'cost', 'error_rate', 'p95', 'readiness', 's_err']],
    ['before the first phase (budget spend included, though no phase counts it yet)', observed(-1, 'ramp'), ['baseline_errors', 'cost', 'error_rate', 'readiness']],
    ['while rolling back: what verifies it, and budget spend', observed(1, 'ramp', true), ['cost', 'error_rate']],
    ['for rollouts started before checks were observed: snapshot metrics are still read', observed(0, 'ramp', false, compiled.observedBeforeChecks), ['adoption', 'c_err', 'cost', 'error_rate', 'p95', 's_err']],
  ])('%s', (_rule, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it('with the flags value conditions read, and the metrics anomaly conditions keep history for', () => {
    expect(compiled.flagReads).toEqual(['payments-v2']);
    expect([...compiled.anomalyMetrics]).toEqual(['p95']);
  });

  it('and a before-rollout baseline key for every metric the plan declares or reads', () => {
    expect([...compiled.beforeRolloutKeys.keys()].sort()).toEqual(Object.keys(METRICS).sort());
    expect(compiled.beforeRolloutKeys.get('cost')).toBe('before-rollout:cost');
  });
});

describe('the http and command checks in force, by phase', () => {
  it.each<[string, number, string[]]>([
    ['before the first phase: the preconditions and the first phase’s entry checks', -1, ['http:GET http://localhost/healthz → 200', 'command:npm test → exit 0']],
    ['in a phase: the next phase’s entry checks (and the phase’s gates, triggers and `until` checks); preconditions no more', 0, ['command:./smoke.sh → exit 0']],
    ['in a phase whose next phase has none: none', 1, []],
  ])('%s', (_rule, index, expected) => {
    expect(compiled.checksInForce.get(index)).toEqual(expected);
  });

  // Fixed by rules v3; before (compile.ts `checksInForce` considers only a phase's gates, the next phase's entry checks, triggers, `until`
  // checks and the preconditions): the http and command checks of tokens ahead, of stabilization gates, of success
  // criteria and of rollback verification are in force nowhere — they are never run, so a token requiring one can
  // never be consumed and such a criterion is judged without ever being asked.
  it('include the checks of tokens still ahead and of the after-100% stages', () => {
    const p = compilePlan(
      testPlan(`
roles: { ceo: { members: [ceo@example.com] } }
checks: [{ name: smoke, when: { kind: http, url: "http://localhost/smoke" } }]
tokens: [{ id: GO, role: ceo, before: full, requires: [smoke] }]
phases: [{ name: canary, percent: 10 }, { name: full, percent: 100 }]
afterFull: { successCriteria: { over: 1d, checks: [{ name: suite, when: { kind: command, run: npm test } }] } }
`),
    );
    // By position (rules v3): in canary, the token ahead's check; in the success-criteria stage, the criterion.
    expect(p.checksInForceAt.get(positionKey(0, 'ramp', false))).toContain('http:GET http://localhost/smoke → 200');
    expect(p.checksInForceAt.get(positionKey(1, 'success-criteria', false))).toContain('command:npm test → exit 0');
    // Rollouts started before rules v3 keep the old list.
    expect(p.checksInForce.get(0)).not.toContain('http:GET http://localhost/smoke → 200');
  });
});

describe('compiling', () => {
  it('is deterministic: the same plan compiles to the same result', () => {
    expect(compilePlan(plan)).toEqual(compiled);
  });

  it('collects every condition of the plan, for validating messages against them', () => {
    // 5 checks, 2 shared gates, 2 triggers; canary's entry, gate and trigger; half's 2 entry checks, gate and trigger;
    // the verification check, the stabilization gate and the success criterion.
    expect(compiled.allConditions).toHaveLength(5 + 2 + 2 + 3 + 4 + 1 + 1 + 1);
    expect(compiled.allConditions).toContainEqual(expect.objectContaining({ kind: 'value', name: 'EVIDENCE' }));
  });
});

describe('the checks the worker runs', () => {
  it('every http or command check the machine may ask for, at any position, is one the worker can find', () => {
    const p = compilePlan(
      testPlan(`
roles: { ceo: { members: [ceo@example.com] } }
checks: [{ name: smoke, when: { kind: http, url: "http://localhost/smoke" } }]
tokens: [{ id: GO, role: ceo, before: full, requires: [smoke] }]
rollback: { verify: { within: 5m, checks: [{ name: back, when: { kind: http, url: "http://localhost/back" } }] } }
phases: [{ name: canary, percent: 10 }, { name: full, percent: 100 }]
afterFull:
  stabilization: { duration: 1d, gates: [{ name: soak, when: { kind: command, run: ./soak.sh } }] }
  successCriteria: { over: 1d, checks: [{ name: suite, when: { kind: command, run: npm test } }] }
`),
    );
    const asked = new Set([...p.checksInForceAt.values(), ...p.checksInForce.values()].flat());
    expect([...asked].sort()).toEqual(['command:./soak.sh → exit 0', 'command:npm test → exit 0', 'http:GET http://localhost/back → 200', 'http:GET http://localhost/smoke → 200']);
    for (const key of asked) expect(p.checkConditions.get(key)).toBeDefined();
  });
});
