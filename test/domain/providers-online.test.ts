import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

function plan(): Plan {
  const loaded = parsePlanText(
    `
apiVersion: canary/v1
id: t
name: Providers online
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { prometheus: { type: prometheus, url: "http://localhost:9090" } }
metrics:
  error_rate: { source: prometheus, query: error_rate, unit: ratio }
analysis: { interval: 1m }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`,
    'providers-online.yaml',
  );
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

describe('the online check of the plan\'s providers before the first phase', () => {
  it('keeps traffic at 0% while a provider does not answer, names it once, and starts when it answers', async () => {
    const down = 'metrics source prometheus (prometheus): connect ECONNREFUSED 127.0.0.1:9090';
    const run = await driveVirtually(plan(), { horizon: 60 * MINUTE, offline: (at) => (at < 4 * MINUTE ? [down] : []) });
    expect(run.written[0]).toEqual({ at: 4 * MINUTE, percent: 10, enabled: true });
    expect(run.log.filter((l) => l.includes('not starting'))).toEqual([
      `0m wait: not starting: ${down} — checked again every 1m; traffic stays at 0%`,
    ]);
    expect(run.log).toContain('4m wait: providers answer again (1 were offline); the rollout may start');
    expect(run.state.outcome).toBe('completed');
  });

  it('starts at once when every provider answers', async () => {
    const run = await driveVirtually(plan(), { horizon: 60 * MINUTE });
    expect(run.written[0]).toEqual({ at: 0, percent: 10, enabled: true });
    expect(run.log.some((l) => l.includes('not starting'))).toBe(false);
  });

  it('never starts while the provider stays down, and says what it waits for', async () => {
    const run = await driveVirtually(plan(), { horizon: 30 * MINUTE, offline: () => ['flag provider flagd (flagd-file): reading checkout-v2 failed: EACCES'] });
    expect(run.written).toEqual([]);
    expect(run.state.phaseIndex).toBe(-1);
    expect(run.state.waitingFor).toContainEqual(expect.stringContaining('providers to answer: flag provider flagd (flagd-file): reading checkout-v2 failed: EACCES'));
  });
});
