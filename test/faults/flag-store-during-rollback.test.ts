/**
 * The flag store breaks just as a breach rolls the rollout back: the write that takes traffic off the canary fails,
 * is reported as urgent, and is retried every analysis interval; once the store answers again, the flag goes straight
 * to off (never through an earlier phase's percentage) within about one interval. Prints the repair → flag-off time.
 */
import { rolloutResult, startRollout } from '../../src/client';
import type { MetricReading } from '../../src/domain/types';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { startFaultWorld, startWebhookFlagStore, waitForStatus, type FaultWorld, type WebhookFlagStore } from './harness';

function plan(url: string): Plan {
  const text = `
apiVersion: canary/v1
id: store-during-rollback
name: Flag store during rollback
owner: owner@example.com
target: { flags: [checkout-v2], provider: flags, environment: prod }
providers:
  flags: { flags: { type: webhook, url: "${url}" } }
  metrics: { live: { type: scenario } }
metrics:
  error_rate: { source: live, query: error_rate, unit: ratio }
analysis: { interval: 1s }
triggers:
  - name: hard-stop
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }
    action: rollback
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - { name: canary-30, percent: 30, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1s }
`;
  const loaded = parsePlanText(text, 'store-during-rollback.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

describe('a flag store that breaks during a rollback', () => {
  let world: FaultWorld;
  let store: WebhookFlagStore;
  let broken = false;
  let breachAt = Number.POSITIVE_INFINITY;

  beforeAll(async () => {
    store = await startWebhookFlagStore();
    store.answer = () => ({ refuse: broken });
    world = await startFaultWorld({ taskQueue: 'faults-store' });
    const live = { query: async (): Promise<MetricReading> => ({ status: 'ok', value: Date.now() >= breachAt ? 0.2 : 0.001 }), isOnline: async () => true };
    await world.startWorker({ metricSource: () => live });
  });
  afterAll(async () => {
    await world?.teardown();
    await store?.close();
  });

  it('retries the write to off every interval and, once repaired, turns the flag off within about one interval', async () => {
    const { flags, writes } = store;
    const handle = await startRollout(world.env.client, plan(store.url), { workflowId: 'store-during-rollback', taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.percent === 30);
    broken = true;
    breachAt = Date.now();
    const failed = await waitForStatus(handle, (s) => s.opsLog.some((e) => e.action === 'flag-write-failed'), 30_000);
    expect(failed.opsLog.find((e) => e.action === 'flag-write-failed')?.reason).toMatch(/checkout-v2 → off.*traffic may still reach the canary/);
    expect(flags.get('checkout-v2')).toEqual({ enabled: true, percent: 30 });
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const repairedAt = Date.now();
    broken = false;
    while (flags.get('checkout-v2')?.enabled !== false && Date.now() - repairedAt < 60_000) await new Promise((resolve) => setTimeout(resolve, 20));
    const offAfter = Date.now() - repairedAt;
    const result = await rolloutResult(handle);
    console.log(`flag store repaired → flag off ${offAfter} ms (analysis interval 1 s); writes attempted after the breach: ${writes.filter((w) => w.at >= breachAt).length}`);
    expect(result.outcome).toBe('rolled_back');
    expect(flags.get('checkout-v2')).toEqual({ enabled: false, percent: 0 });
    // Straight to the safe state: nothing but "off" was ever attempted after the breach.
    expect(writes.filter((w) => w.at >= breachAt).every((w) => !w.enabled && w.percent === 0)).toBe(true);
    // Causal bound, not a speed target: the retry comes every interval (1 s), not on a backoff of tens of seconds.
    expect(offAfter).toBeLessThan(6_000);
  }, 90_000);
});
