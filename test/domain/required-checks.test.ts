/**
 * A named check that reads metrics is observed wherever the rollout needs its answer — not only as a precondition:
 * a phase's `until` checks (it stays until they hold) and the checks a token requires (it may be consumed only
 * when they hold). Before, such a check was never observed there: "not evaluated yet" forever, so the phase never
 * ended and the token could never be consumed.
 */
import { apply, initialState } from '../helpers/machine';
import { testPlan } from '../helpers/test-plan';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

const plan = testPlan(
  `
roles:
  ceo: { members: [ceo@example.com] }
analysis: { interval: 1m }
checks:
  - { name: errors-low, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
  - { name: adoption-up, when: { kind: threshold, metric: adoption, op: ">=", value: 0.2 } }
tokens:
  - { id: GO, role: ceo, before: full, requires: [errors-low] }
phases:
  - { name: canary, percent: 10, minDuration: 10m, until: [adoption-up] }
  - { name: full, percent: 100, minDuration: 10m }
`,
  { id: 'required-checks', metrics: { error_rate: 'ratio', adoption: 'ratio' } },
);

describe('named checks that read metrics are observed where the rollout waits for them', () => {
  it('a phase stays until its `until` check holds, then waits only for what comes next', async () => {
    const adoption = (name: string, at: number) => (name === 'adoption' ? (at >= 25 * MINUTE ? 0.3 : 0.1) : 0.001);
    const early = await driveVirtually(plan, { horizon: 20 * MINUTE, metric: adoption });
    expect(early.state.waits).toContainEqual(expect.objectContaining({ kind: 'until', check: 'adoption-up', detail: expect.stringMatching(/adoption = 0\.1/) }));
    const later = await driveVirtually(plan, { horizon: 40 * MINUTE, metric: adoption });
    expect((later.state.waits ?? []).map((w) => w.kind)).toEqual(['token']);
    expect(later.state.waits).toContainEqual(expect.objectContaining({ kind: 'token', id: 'GO', blockedBy: [] }));
  });

  it('a token whose required check reads metrics can be consumed once the check holds', async () => {
    const run = await driveVirtually(plan, { horizon: 30 * MINUTE, metric: (name) => (name === 'adoption' ? 0.3 : 0.001) });
    const state = run.state;
    expect(state.tracks['check:errors-low']).toMatchObject({ satisfied: true });
    apply(plan, state, { type: 'consume-token', at: state.now, id: 't1', token: 'GO', by: 'ceo@example.com', role: 'ceo' });
    expect(state.tokensConsumed.GO).toBeDefined();
    expect(state.opsLog.filter((e) => e.action === 'refuse')).toEqual([]);
  });

  it('a token whose required check fails stays blocked, and says by what', async () => {
    const run = await driveVirtually(plan, { horizon: 30 * MINUTE, metric: (name) => (name === 'adoption' ? 0.3 : 0.05) });
    expect(run.state.waits).toContainEqual(expect.objectContaining({ kind: 'token', id: 'GO', blockedBy: [expect.objectContaining({ check: 'errors-low', detail: expect.stringMatching(/error_rate = 0\.05/) })] }));
  });

  it('a rollout started before this rule keeps its old reading (replay)', async () => {
    const run = await driveVirtually(plan, { horizon: 30 * MINUTE, metric: () => 0.3, initial: { rulesV3: undefined } });
    expect(run.state.tracks['check:errors-low']).toBeUndefined();
    expect(initialState(0).rulesV3).toBe(true);
  });
});

describe('what observing required checks does not change', () => {
  it('a phase gate named like a shared gate still decides on its own condition (both fold into one track)', async () => {
    const shadowed = testPlan(
      `
analysis: { interval: 1m }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.05 } }
phases:
  - name: canary
    percent: 10
    minDuration: 10m
    gates: [{ name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.001 } }]
  - { name: full, percent: 100, minDuration: 10m }
`,
      { id: 'shadowed' },
    );
    const run = await driveVirtually(shadowed, { horizon: 60 * MINUTE, metric: () => 0.01 });
    expect(run.state.phaseIndex).toBe(0);
    expect(run.state.opsLog.some((e) => e.action === 'advance')).toBe(false);
  });

  it('a consumed token’s check without data is no reason to hold (it is judged only when the token is consumed)', async () => {
    // The phase waits on adoption for 40 minutes; error_rate has no usable value from 1m, longer than the 15m limit.
    const run = await driveVirtually(plan, {
      horizon: 40 * MINUTE,
      metric: (name, at) => (name === 'adoption' ? 0.1 : at >= MINUTE ? Number.NaN : 0.001),
      initial: { tokensConsumed: { GO: { by: 'ceo@example.com', at: 0 } } },
    });
    expect(run.state.phaseIndex).toBe(0);
    expect(run.state.opsLog.filter((e) => e.action === 'hold')).toEqual([]);
  });
});
