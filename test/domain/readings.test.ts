/**
 * A decision says which readings it was made on: the values, when the newest was observed, and which of them are
 * older than that (their source did not answer at the last observation and the value shown is the last one read).
 * The result carries the decisions with their readings, and every approval.
 */
import { resultOf } from '../helpers/machine';
import { testPlan } from '../helpers/test-plan';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

const plan = testPlan(
  `
analysis: { interval: 1m, consecutiveErrorLimit: 1000 }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
triggers:
  - { name: slow, when: { kind: threshold, metric: p95_ms, op: ">", value: 800 }, action: alert }
phases:
  - { name: canary, percent: 10, minDuration: 20m }
  - { name: full, percent: 100, minDuration: 10m }
`,
  { id: 'readings', metrics: { error_rate: 'ratio', p95_ms: 'ms' } },
);

describe('a decision cites its readings and when they were observed', () => {
  it('names the newest observation, and the readings older than it (a source that stopped answering)', async () => {
    const run = await driveVirtually(plan, {
      horizon: 25 * MINUTE,
      metric: (name) => (name === 'error_rate' ? 0.002 : 420),
      failing: (name, at) => name === 'p95_ms' && at >= 9 * MINUTE,
    });
    const advance = run.state.opsLog.find((e) => e.action === 'advance');
    expect(advance).toMatchObject({ at: 20 * MINUTE, metrics: { error_rate: 0.002, p95_ms: 420 }, observedAt: 20 * MINUTE, olderReadings: { p95_ms: 8 * MINUTE } });
  });

  it('says nothing is older when every source answered', async () => {
    const run = await driveVirtually(plan, { horizon: 25 * MINUTE, metric: (name) => (name === 'error_rate' ? 0.002 : 420) });
    const advance = run.state.opsLog.find((e) => e.action === 'advance');
    expect(advance).toMatchObject({ observedAt: 20 * MINUTE });
    expect(advance?.olderReadings).toBeUndefined();
  });

  it('the result lists each decision with the readings it was made on, in ISO time', async () => {
    const run = await driveVirtually(plan, { horizon: 25 * MINUTE, metric: (name) => (name === 'error_rate' ? 0.002 : 420) });
    const decision = resultOf(plan, run.state).decisions.find((d) => d.action === 'advance');
    expect(decision).toMatchObject({ readings: { error_rate: 0.002, p95_ms: 420 }, observedAt: '1970-01-01T00:20:00.000Z' });
    expect(resultOf(plan, run.state).approvals).toEqual([]);
  });
});
