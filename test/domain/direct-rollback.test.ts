import { isSettled } from '../../src/domain/machine';
import { testPlan } from '../helpers/test-plan';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

const plan = () =>
  testPlan(
    `
analysis: { interval: 1m }
triggers:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }
    action: rollback
phases:
  - { name: canary-10, percent: 10, minDuration: 10m }
  - { name: canary-30, percent: 30, minDuration: 10m }
  - { name: canary-60, percent: 60, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 30m }
`,
    { id: 'direct-rollback' },
  );

describe('a rollback', () => {
  it('goes straight to the safe state in one write, not back through every phase it passed', async () => {
    // Errors from 25m: the rollout is at 60% by then.
    const run = await driveVirtually(plan(), { horizon: 2 * 60 * MINUTE, metric: (_name, at) => (at >= 25 * MINUTE ? 0.2 : 0.001) });
    expect(run.state.outcome).toBe('rolled_back');
    expect(isSettled(run.state)).toBe(true);
    const afterBreach = run.written.filter((w) => w.at >= 25 * MINUTE);
    expect(afterBreach).toEqual([{ at: 25 * MINUTE, percent: 0, enabled: false }]);
  });

  it('of a rollout started before direct rollbacks still undoes phase by phase, as its history recorded', async () => {
    const run = await driveVirtually(plan(), { horizon: 2 * 60 * MINUTE, initial: { trustV2: false }, metric: (_name, at) => (at >= 25 * MINUTE ? 0.2 : 0.001) });
    expect(run.written.filter((w) => w.at >= 25 * MINUTE).map((w) => w.percent)).toEqual([30, 10, 0]);
  });
});
