import { isSettled } from '../../src/domain/machine';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

const PLAN = `
apiVersion: canary/v1
id: t
name: Flag writes
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
analysis: { interval: 1m }
triggers:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }
    action: rollback
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 30m }
`;

function plan(): Plan {
  const loaded = parsePlanText(PLAN, 'flag-writes.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

async function drive(failing: (percent: number, at: number) => boolean, errorRate: (at: number) => number, horizon = 3 * 60 * MINUTE) {
  return driveVirtually(plan(), {
    horizon,
    setFlags: (c, at) => (failing(c.percent, at) ? { ok: false, detail: 'flag service answered 503' } : undefined),
    metric: (_name, at) => errorRate(at),
  });
}

describe('flag writes that fail', () => {
  it('hold the rollout in its phase and are retried every interval until they go through', async () => {
    // The write to 100% fails from 10m to 14m59s; it goes through on the retry at 15m.
    const run = await drive((percent, at) => percent === 100 && at < 15 * MINUTE, () => 0.001);
    expect(run.state.outcome).toBe('completed');
    expect(run.written.map((w) => w.percent)).toEqual([10, 100]);
    expect(run.written.at(-1)?.at).toBe(15 * MINUTE);
    const failed = run.log.filter((l) => l.includes('flag-write-failed'));
    // Logged once when it first failed, not on every failed retry.
    expect(failed).toEqual([expect.stringMatching(/^10m flag-write-failed: flag write failed \(checkout-v2 → 100%, for entering full\): flag service answered 503; retried every 1m, and the rollout does not advance until it succeeds$/)]);
    expect(run.log).toContainEqual(expect.stringMatching(/^15m flag-write-retried: flag write checkout-v2 → 100% went through on retry after 5 failures \(5m\); full counts from now \(its minimum duration and gates start again\)$/));
  });

  it('keep a rolled-back rollout retrying until traffic is off, and say it is urgent', async () => {
    // Errors at 5m roll back; the flag service refuses the write to "off" until 9m.
    const run = await drive((percent, at) => percent === 0 && at < 9 * MINUTE, (at) => (at >= 5 * MINUTE ? 0.2 : 0.001));
    expect(run.state.outcome).toBe('rolled_back');
    expect(run.written).toEqual([{ at: 0, percent: 10, enabled: true }, { at: 9 * MINUTE, percent: 0, enabled: false }]);
    expect(run.log).toContainEqual(expect.stringMatching(/^5m flag-write-failed: .*traffic may still reach the canary$/));
    expect(run.state.pendingFlagWrites).toBeUndefined();
    expect(isSettled(run.state)).toBe(true);
  });

  it('are superseded by a later write of the same flag', async () => {
    // The write to 100% never goes through; errors at 20m roll back, and the write to "off" replaces the pending one.
    const run = await drive((percent) => percent === 100, (at) => (at >= 20 * MINUTE ? 0.2 : 0.001));
    expect(run.state.outcome).toBe('rolled_back');
    expect(run.written.at(-1)).toEqual({ at: 20 * MINUTE, percent: 0, enabled: false });
    expect(run.state.pendingFlagWrites ?? []).toEqual([]);
  });
});

describe('a phase whose flag write went through only on retry', () => {
  const GATED = PLAN.replace(
    'triggers:',
    `gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, for: 5m }
triggers:`,
  );
  const gated = (): Plan => {
    const loaded = parsePlanText(GATED, 'flag-writes-gated.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    return loaded.plan;
  };

  it('counts its minimum duration and gates from the moment traffic went live, not from the decision', async () => {
    // The 10% write fails until 12m: the canary served nobody before then, so 10m at 10% end at 22m, not at 12m.
    const run = await driveVirtually(gated(), {
      horizon: 3 * 60 * MINUTE,
      setFlags: (c, at) => (c.percent === 10 && at < 12 * MINUTE ? { ok: false, detail: 'flag service answered 503' } : undefined),
      metric: () => 0.001,
    });
    expect(run.written.map((w) => [w.at / MINUTE, w.percent])).toEqual([[12, 10], [22, 100]]);
    expect(run.log).toContainEqual(expect.stringMatching(/^12m flag-write-retried: .*; canary counts from now \(its minimum duration and gates start again\)$/));
  });

  it('of a rollout started before this rule still counts from the decision, as its history recorded', async () => {
    const run = await driveVirtually(gated(), {
      horizon: 3 * 60 * MINUTE,
      initial: { trustV2: false },
      setFlags: (c, at) => (c.percent === 10 && at < 12 * MINUTE ? { ok: false, detail: 'flag service answered 503' } : undefined),
      metric: () => 0.001,
    });
    expect(run.written.map((w) => [w.at / MINUTE, w.percent])).toEqual([[12, 10], [12, 100]]);
  });
});
