/**
 * observation.ts: what a tick asks to observe and when (the analysis-interval grid), how a reading is folded into
 * latest values, baselines, history and the tracks of the conditions in force, which checks are run alongside, and
 * the providers check before the first phase. Readings are plain observation events; "no data", "bad data" and
 * "source down" stay apart and none of them is ever a pass.
 */
import type { MetricReading, RolloutState } from '../../../src/domain/types';
import { initialState } from '../../helpers/machine';
import { testPlan } from '../../helpers/test-plan';
import { MINUTE, SECOND, commandsOf, drive, readings, send, started, tick } from './helpers';

const gated = testPlan(
  `
analysis: { interval: 1m }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
triggers:
  - { name: spike, when: { kind: anomaly, metric: p95, sigma: 3, lookback: 1h, minSamples: 5 }, action: alert }
phases:
  - { name: dark, percent: 0, minDuration: 5m }
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m }
`,
  { id: 'observation', metrics: { error_rate: 'ratio', p95: 'ms', events: 'count' } },
);
const GATE = 'gate:dark:errors-ok';

describe('a reading', () => {
  const after = (reading: MetricReading) => {
    const state = started(gated, 0, { values: { error_rate: 0.002 } });
    send(gated, state, readings(MINUTE, { error_rate: reading }));
    return state;
  };

  it.each<[string, MetricReading, { latest: number; inconclusive: boolean; sourceErrors: number; detail: string }]>([
    ['that is a number replaces the latest value and decides the condition', { status: 'ok', value: 0.02 }, { latest: 0.02, inconclusive: false, sourceErrors: 0, detail: 'error_rate = 0.02 ratio (condition < 0.01)' }],
    ['without data keeps the last good value and leaves the condition inconclusive', { status: 'no-data' }, { latest: 0.002, inconclusive: true, sourceErrors: 0, detail: 'error_rate: no data' }],
    ['with invalid data keeps the last good value and leaves the condition inconclusive', { status: 'invalid', detail: 'NaN in series' }, { latest: 0.002, inconclusive: true, sourceErrors: 0, detail: 'error_rate: invalid data (NaN in series)' }],
    ['that is not a finite number is invalid data, not a value', { status: 'ok', value: Number.POSITIVE_INFINITY }, { latest: 0.002, inconclusive: true, sourceErrors: 0, detail: 'error_rate: invalid value Infinity' }],
    ['from a source that is down counts as a source error, never as a pass', { status: 'error', detail: 'connection refused' }, { latest: 0.002, inconclusive: true, sourceErrors: 1, detail: 'error_rate: source error (connection refused)' }],
  ])('%s', (_rule, reading, expected) => {
    const state = after(reading);
    expect(state.latest.error_rate?.value).toBe(expected.latest);
    expect(state.tracks[GATE]).toMatchObject({ satisfied: false, detail: expected.detail });
    expect(state.tracks[GATE]?.inconclusiveSince !== undefined).toBe(expected.inconclusive);
    expect(state.consecutiveSourceErrors).toBe(expected.sourceErrors);
  });

  it('source errors count observations in a row with any error, and one clean observation resets the count', () => {
    const state = started(gated);
    const down: MetricReading = { status: 'error', detail: 'timeout' };
    send(gated, state, readings(1 * MINUTE, { error_rate: down, p95: 200 }));
    send(gated, state, readings(2 * MINUTE, { error_rate: 0.001, p95: down }));
    expect(state.consecutiveSourceErrors).toBe(2);
    send(gated, state, readings(3 * MINUTE, { error_rate: 0.001, p95: 200 }));
    expect(state.consecutiveSourceErrors).toBe(0);
  });

  it('a metric the observation did not return leaves its condition inconclusive ("not observed")', () => {
    const state = started(gated, 0, { values: { error_rate: 0.002 } });
    send(gated, state, readings(MINUTE, { p95: 200 }));
    expect(state.tracks[GATE]).toMatchObject({ satisfied: false, detail: 'error_rate: not observed', inconclusiveSince: MINUTE });
  });

  it('marks when events last arrived only for a value above zero', () => {
    const state = started(gated);
    send(gated, state, readings(MINUTE, { events: 3 }));
    send(gated, state, readings(2 * MINUTE, { events: 0 }));
    expect(state.lastEventAt.events).toBe(MINUTE);
  });

  it('keeps history only for metrics an anomaly condition reads', () => {
    const state = started(gated);
    for (let i = 1; i <= 3; i++) send(gated, state, readings(i * MINUTE, { p95: 100 + i, error_rate: 0.001 }));
    expect(state.history.p95).toEqual([[0, 0], [MINUTE, 101], [2 * MINUTE, 102], [3 * MINUTE, 103]]);
    expect(state.history.error_rate).toBeUndefined();
  });

  it('keeps a bounded history however long the rollout runs (trimmed in batches to the newest 500)', () => {
    const state = started(gated);
    for (let i = 1; i <= 1_000; i++) send(gated, state, readings(i * SECOND, { p95: i }));
    const history = state.history.p95 ?? [];
    expect(history.length).toBeGreaterThanOrEqual(500);
    expect(history.length).toBeLessThanOrEqual(625);
    expect(history.at(-1)).toEqual([1_000 * SECOND, 1_000]);
  });

  it('stores flag values read with it', () => {
    const state = started(gated);
    send(gated, state, { type: 'observation', at: MINUTE, metrics: {}, flags: { 'payments-v2': 100 } });
    expect(state.flagValues).toEqual({ 'payments-v2': 100 });
  });
});

describe('baselines', () => {
  it('"before-rollout" is the first reading taken while no traffic reaches the canary, and is never overwritten', () => {
    const state = started(gated, 0, { values: { error_rate: 0.004 } });
    send(gated, state, readings(MINUTE, { error_rate: 0.009 }));
    expect(state.phaseIndex).toBe(0);
    expect(state.baselines['before-rollout:error_rate']).toBe(0.004);
  });

  it('"phase-start" is the latest value of each metric as a phase is entered', () => {
    const state = started(gated, 0, { values: { error_rate: 0.002 } });
    send(gated, state, readings(4 * MINUTE, { error_rate: 0.003, p95: 180 }));
    send(gated, state, tick(5 * MINUTE), { error_rate: 0.005, p95: 190 });
    expect(state.phaseIndex).toBe(1);
    expect(state.baselines['phase-start:error_rate']).toBe(0.005);
    expect(state.baselines['phase-start:p95']).toBe(190);
  });
});

describe('the observation grid', () => {
  /** The observe commands of a tick at `at` (answered with good readings), and when the next one is due. */
  const tickAt = (state: RolloutState, at: number) => {
    const { commands } = send(gated, state, tick(at), { error_rate: 0.001 });
    return { observed: commandsOf(commands, 'observe').length, next: state.nextObservationAt };
  };

  it.each<[string, number[], Array<{ observed: number; next: number }>]>([
    ['a tick at the due time observes and the next is due one interval later', [MINUTE, 2 * MINUTE], [{ observed: 1, next: 2 * MINUTE }, { observed: 1, next: 3 * MINUTE }]],
    ['a tick a little late stays on the grid', [MINUTE + 20 * SECOND], [{ observed: 1, next: 2 * MINUTE }]],
    ['a tick a whole interval late or more starts the grid again from itself', [3 * MINUTE + 5 * SECOND], [{ observed: 1, next: 4 * MINUTE + 5 * SECOND }]],
    ['a tick before the due time does not observe', [30 * SECOND], [{ observed: 0, next: MINUTE }]],
  ])('%s', (_rule, ticks, expected) => {
    const state = started(gated);
    expect(ticks.map((at) => tickAt(state, at))).toEqual(expected);
  });

  it('asks for the metrics the conditions in force read, and the flags value conditions read', () => {
    const p = testPlan(
      `
analysis: { interval: 1m }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary, percent: 10, minDuration: 10m, gates: [{ name: flag-on, when: { kind: value, name: payments-v2, from: flag, equals: true } }] }
  - name: full
    percent: 100
    entry: [{ name: p95-ok, when: { kind: threshold, metric: p95, op: "<", value: 500 } }]
`,
      { id: 'observed', metrics: { error_rate: 'ratio', p95: 'ms', unused: 'count' } },
    );
    const state = started(p);
    const { commands } = send(p, state, tick(MINUTE));
    expect(commandsOf(commands, 'observe')).toEqual([{ type: 'observe', metrics: ['error_rate', 'p95'], flags: ['payments-v2'] }]);
  });

  it('the first observation, at the start, reads every metric a condition of the plan reads (baselines)', () => {
    const state = started(gated);
    expect(state.latest).toEqual({ error_rate: { value: 0, at: 0 }, p95: { value: 0, at: 0 } });
  });
});

describe('a decision waits for the readings asked for at its instant', () => {
  // The minimum of "dark" ends at 5m, the instant of an evaluation; an alert arriving at that instant, before the
  // reading comes back, would otherwise advance on the reading of 4m.
  it.each<[string, boolean | undefined, number]>([
    ['an event at that instant does not advance on the previous reading', true, 0],
    ['(a rollout started before the rule advanced on the previous reading)', false, 1],
  ])('%s', (_rule, trustV2, phaseAfterEvent) => {
    const state = started(gated, 0, { initial: { trustV2 }, values: { error_rate: 0.001 } });
    for (let m = 1; m <= 4; m++) send(gated, state, tick(m * MINUTE), { error_rate: 0.001 });
    send(gated, state, tick(5 * MINUTE));
    send(gated, state, { type: 'alert', at: 5 * MINUTE, id: 'a1', alert: 'unrelated', status: 'resolved' });
    expect(state.phaseIndex).toBe(phaseAfterEvent);
    send(gated, state, readings(5 * MINUTE, { error_rate: 0.001, p95: 0 }));
    expect(state.phaseIndex).toBe(1);
  });

  it('the reading that came back decides: a bad one at that instant stops the advance', () => {
    const state = started(gated, 0, { values: { error_rate: 0.001 } });
    for (let m = 1; m <= 4; m++) send(gated, state, tick(m * MINUTE), { error_rate: 0.001 });
    send(gated, state, tick(5 * MINUTE), { error_rate: 0.05 });
    expect(state.phaseIndex).toBe(0);
    expect(state.waits).toContainEqual(expect.objectContaining({ kind: 'gate', name: 'errors-ok', detail: 'error_rate = 0.05 ratio (condition < 0.01)' }));
  });
});

describe('http and command checks in force', () => {
  const checked = testPlan(
    `
analysis: { interval: 1m }
checks:
  - { name: suite, when: { kind: command, run: npm test } }
preconditions: [suite]
triggers:
  - { name: errors, when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }, action: rollback }
phases:
  - name: canary
    percent: 10
    minDuration: 30m
    gates: [{ name: healthz, when: { kind: http, url: "http://localhost:3000/healthz" } }]
  - { name: full, percent: 100, minDuration: 10m }
`,
    { id: 'checks' },
  );
  const HEALTHZ = 'http:GET http://localhost:3000/healthz → 200';
  const SUITE = 'command:npm test → exit 0';

  it('a gate’s check runs with the first observation in the phase and again once its result is five minutes old', async () => {
    const run = await drive(checked, { horizon: 25 * MINUTE });
    expect(run.checks.filter((c) => c.check === HEALTHZ).map((c) => c.at / MINUTE)).toEqual([1, 6, 11, 16, 21]);
  });

  it('a precondition that fails is run again once its result is five minutes old, and not once the first phase is entered', async () => {
    // The rollout-wide trigger is observed before the first phase, and the checks in force run with those observations.
    const run = await drive(checked, { horizon: 30 * MINUTE, check: (check, at) => ({ ok: check !== SUITE || at >= 6 * MINUTE }) });
    expect([...new Set(run.checks.filter((c) => c.check === SUITE).map((c) => c.at / MINUTE))]).toEqual([0, 5, 10]);
    expect(run.written[0]).toMatchObject({ at: 10 * MINUTE, percent: 10 });
  });

  // Fixed by rules v3; before (progression.ts `start` runs the preconditions, and the baseline observation it asks for runs the checks in
  // force — the same preconditions — again): every http or command precondition is run twice at the start, e.g. a
  // 30-minute coverage suite started twice at once.
  it('a precondition is run once at the start, not twice', async () => {
    const run = await drive(checked, { horizon: 0 });
    expect(run.checks.filter((c) => c.check === SUITE)).toEqual([{ at: 0, check: SUITE }]);
  });

  // Fixed by rules v3; before (observation.ts `runActiveChecks` is only called from `emitObserve`; scheduling.ts observes only while a
  // metric condition is in force): in a plan where nothing reads a metric, http and command checks in force are never
  // run — an http gate stays "not run yet" forever, and the rollout is never woken up again.
  it('an http gate is run even when no condition reads a metric', async () => {
    const p = testPlan(`
analysis: { interval: 1m }
phases:
  - name: canary
    percent: 10
    minDuration: 10m
    gates: [{ name: healthz, when: { kind: http, url: "http://localhost:3000/healthz" } }]
  - { name: full, percent: 100 }
`);
    const run = await drive(p, { horizon: 60 * MINUTE });
    expect(run.checks.map((c) => c.check)).toContain(HEALTHZ);
    expect(run.state.outcome).toBe('completed');
  });

  // Fixed by rules v3; before (same cause): a command precondition that fails at the start is never run again when nothing reads a metric:
  // the rollout waits for it forever, with no wake-up scheduled.
  it('a failed precondition is run again when no condition reads a metric', async () => {
    const p = testPlan(`
analysis: { interval: 1m }
checks: [{ name: suite, when: { kind: command, run: npm test } }]
preconditions: [suite]
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`);
    const run = await drive(p, { horizon: 60 * MINUTE, check: (_c, at) => ({ ok: at >= 5 * MINUTE }) });
    expect(run.checks.length).toBeGreaterThan(1);
    expect(run.state.phaseIndex).toBeGreaterThanOrEqual(0);
  });

  // Fixed by rules v3; before (compile.ts `checksInForce` leaves out the checks tokens require): a token whose required check is an http or
  // command check can never be consumed — the check is never run, and stays "not run yet".
  it('an http check a token requires is run while the token is ahead', async () => {
    const p = testPlan(
      `
analysis: { interval: 1m }
roles: { ceo: { members: [ceo@example.com] } }
checks:
  - { name: smoke, when: { kind: http, url: "http://localhost:3000/smoke" } }
tokens:
  - { id: GO, role: ceo, before: full, requires: [smoke] }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`,
      { id: 'token-check' },
    );
    const run = await drive(p, { horizon: 20 * MINUTE });
    expect(run.checks.map((c) => c.check)).toContain('http:GET http://localhost:3000/smoke → 200');
    expect(run.state.waits).toContainEqual(expect.objectContaining({ kind: 'token', id: 'GO', blockedBy: [] }));
  });
});

describe('the providers check before the first phase', () => {
  const p = testPlan(`
analysis: { interval: 1m }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`);
  const down = 'metrics source sim (scenario): connection refused';
  const fresh = (): RolloutState => {
    const state = initialState(0);
    send(p, state, { type: 'start', at: 0 });
    return state;
  };
  const notStarting = (lines: string[]) => lines.filter((l) => l.startsWith('wait: not starting')).length;

  it('names offline providers once while they stay the same, and again when they change', () => {
    const state = fresh();
    const logged = [
      send(p, state, { type: 'providers-checked', at: 0, offline: [down] }).lines,
      send(p, state, { type: 'providers-checked', at: MINUTE, offline: [down] }).lines,
      send(p, state, { type: 'providers-checked', at: 2 * MINUTE, offline: [down, 'flag provider flagd: EACCES'] }).lines,
    ];
    expect(logged.map(notStarting)).toEqual([1, 0, 1]);
  });

  it('asks again every interval while a provider is offline, keeps traffic at 0%, and starts once all answer', () => {
    const state = fresh();
    send(p, state, { type: 'providers-checked', at: 0, offline: [down] });
    expect(state.wakeAt).toBe(MINUTE);
    const { commands } = send(p, state, tick(MINUTE));
    expect(commandsOf(commands, 'check-providers')).toHaveLength(1);
    expect(state).toMatchObject({ phaseIndex: -1, percent: 0 });
    const { lines } = send(p, state, { type: 'providers-checked', at: MINUTE, offline: [] });
    expect(lines).toContain('wait: providers answer again (1 were offline); the rollout may start');
    expect(state).toMatchObject({ phaseIndex: 0, percent: 10 });
  });

  it('is not asked for again once the first phase is entered', () => {
    const state = fresh();
    send(p, state, { type: 'providers-checked', at: 0, offline: [] });
    expect(commandsOf(send(p, state, tick(MINUTE)).commands, 'check-providers')).toEqual([]);
  });
});
