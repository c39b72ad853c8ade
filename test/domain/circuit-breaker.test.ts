import type { Plan } from '../../src/plan/schema';
import { testPlan } from '../helpers/test-plan';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

function plan(controls: string, analysis = ''): Plan {
  return testPlan(
    `
analysis: { interval: 30s${analysis} }
controls: ${controls}
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1h }
`,
    { id: 'breaker' },
  );
}

const BREAKER = '{ circuitBreaker: { consecutiveErrors: 3, action: kill, when: { kind: threshold, metric: error_rate, op: ">", value: 0.01 } } }';

describe('the circuit breaker counts consecutive failures of the condition the plan names (the canary’s own errors)', () => {
  it('trips on three consecutive evaluations in error: a canary failing every request for 90 s is killed', async () => {
    // Every request fails from 10m; evaluations every 30s: 10m, 10m30s, 11m.
    const run = await driveVirtually(plan(BREAKER), { horizon: 3 * 60 * MINUTE, metric: (_n, at) => (at >= 10 * MINUTE ? 1 : 0.001) });
    expect(run.state.outcome).toBe('killed');
    expect(run.log).toContainEqual(expect.stringMatching(/^11m kill: KILL: trigger circuit-breaker fired: circuit breaker: 3 consecutive evaluations in error: error_rate = 1/));
  });

  it('resets on an evaluation without the error: errors that come and go do not trip it', async () => {
    const flapping = (_n: string, at: number) => (at >= 10 * MINUTE && at % MINUTE === 0 ? 1 : 0.001);
    const run = await driveVirtually(plan(BREAKER), { horizon: 3 * 60 * MINUTE, metric: flapping });
    expect(run.state.outcome).toBe('completed');
  });

  it('without a condition, only metric-source errors trip it (as before)', async () => {
    const run = await driveVirtually(plan('{ circuitBreaker: { consecutiveErrors: 3, action: kill } }'), { horizon: 3 * 60 * MINUTE, metric: (_n, at) => (at >= 10 * MINUTE ? 1 : 0.001) });
    expect(run.state.outcome).toBe('completed');
  });
});

describe('abort is an action for source errors: the rollout stops, compensated, as aborted', () => {
  it('aborts after the consecutive source-error limit when onError is abort', async () => {
    // The breaker's condition makes error_rate read at every evaluation; the source fails before the breaker's 3.
    const p = plan(BREAKER, ', consecutiveErrorLimit: 2, onError: abort');
    const run = await driveVirtually(p, { horizon: 3 * 60 * MINUTE, metric: () => 0.001, failing: (_n, at) => at >= 10 * MINUTE });
    expect(run.state.outcome).toBe('aborted');
    expect(run.written.at(-1)).toMatchObject({ percent: 0, enabled: false });
    expect(run.log).toContainEqual(expect.stringMatching(/^10m30s rollback: ROLLBACK: trigger source-errors fired: 2 consecutive metric source errors/));
  });
});
