import { testPlan } from '../helpers/test-plan';
import { statusOf } from '../helpers/machine';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

describe('the status view', () => {
  const plan = testPlan(
    `
roles:
  cfo: { members: [cfo@example.com, deputy@example.com] }
analysis: { interval: 1m }
triggers:
  - name: error-hard-stop
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05, for: 5m }
    action: rollback
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m, approvals: [{ role: cfo }] }
`,
    { id: 'status' },
  );

  it('shows a trigger counting toward firing and who may approve what waits', async () => {
    // Errors from 12m: by 14m the hard stop has been true for 2 of its 5 minutes; the CFO's approval waits.
    const run = await driveVirtually(plan, { horizon: 14 * MINUTE, metric: (_n, at) => (at >= 12 * MINUTE ? 0.06 : 0.001) });
    const view = statusOf(plan, run.state, 'r');
    expect(view.triggers).toEqual([
      { name: 'error-hard-stop', action: 'rollback', fired: false, progress: 'true for 2m of the 5m it needs', detail: 'error_rate = 0.06 ratio (condition >= 0.05)' },
    ]);
    expect(view.approvers).toEqual({ cfo: ['cfo@example.com', 'deputy@example.com'] });
  });
});
