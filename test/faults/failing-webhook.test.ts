/**
 * A notification channel that fails or hangs never stands between a breach and the flag write that takes traffic off
 * the canary: notifications are their own activities, not awaited by decisions. Measured against a real dev server and
 * worker with a webhook receiver that answers 500, one that takes 9 s, and one that works; each run prints the breach →
 * decision and breach → flag-off times. The failing channel is reported in the ops log, not retried forever.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rolloutResult, startRollout } from '../../src/client';
import type { MetricReading } from '../../src/domain/types';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { startFaultWorld, waitForStatus, type FaultWorld } from './harness';

const URL_ENV = 'CANARY_FAULT_WEBHOOK_URL';

function plan(flag: string): Plan {
  const text = `
apiVersion: canary/v1
id: webhook-breach
name: Webhook breach
owner: owner@example.com
target: { flags: [${flag}], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { live: { type: scenario } }
metrics:
  error_rate: { source: live, query: error_rate, unit: ratio }
channels:
  ops: { type: webhook, urlEnv: ${URL_ENV} }
notifications:
  - on: [started, phase-entered, phase-advanced, trigger-fired, rollback, completed, hold]
    channels: [ops]
analysis: { interval: 1s }
triggers:
  - name: hard-stop
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }
    action: rollback
phases:
  - { name: canary-10, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1s }
`;
  const loaded = parsePlanText(text, 'webhook-breach.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

type Mode = 'ok' | '500' | 'slow';

describe('a breach with a failing notification channel', () => {
  let world: FaultWorld;
  let receiver: Server;
  let mode: Mode = 'ok';
  const received: Array<{ key: string | undefined; status: number }> = [];
  let breachAt = Number.POSITIVE_INFINITY;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const status = mode === '500' ? 500 : 200;
        received.push({ key: req.headers['idempotency-key'] as string | undefined, status });
        const answer = () => res.writeHead(status).end(status === 200 ? 'ok' : 'boom');
        if (mode === 'slow') setTimeout(answer, 9_000);
        else answer();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    process.env[URL_ENV] = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    world = await startFaultWorld({ taskQueue: 'faults-webhook' });
    // The canary's error rate as the metric source reads it: healthy until the test breaches it.
    const live = {
      query: async (): Promise<MetricReading> => ({ status: 'ok', value: Date.now() >= breachAt ? 0.2 : 0.001 }),
      isOnline: async () => true,
    };
    await world.startWorker({ metricSource: () => live });
  });
  afterAll(async () => {
    await world?.teardown();
    receiver?.closeAllConnections();
    await new Promise((resolve) => receiver?.close(resolve));
    delete process.env[URL_ENV];
  });

  const flagOff = (flag: string): boolean => {
    try {
      const file = JSON.parse(readFileSync(join(world.root, 'flags.json'), 'utf8')) as { flags: Record<string, { state?: string }> };
      return file.flags[flag]?.state === 'DISABLED';
    } catch {
      return false;
    }
  };

  // Causal, not a speed target: a flag write that waited on the slow receiver would come after its 9 s answer, one that
  // waited on the failing receiver after its retries (seconds each). bench/latency.ts measures the speed.
  it.each<[Mode, number]>([
    ['ok', 8_000],
    ['500', 8_000],
    ['slow', 8_000],
  ])('takes traffic off the canary within seconds when the webhook answers %s', async (which, bound) => {
    mode = which;
    breachAt = Number.POSITIVE_INFINITY;
    const flag = `checkout-${which}`;
    const handle = await startRollout(world.env.client, plan(flag), { workflowId: `webhook-${which}`, taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.percent === 10);
    breachAt = Date.now();
    while (!flagOff(flag) && Date.now() - breachAt < 60_000) await new Promise((resolve) => setTimeout(resolve, 10));
    const offAfter = Date.now() - breachAt;
    const result = await rolloutResult(handle);
    const decidedAfter = (result.opsLog.find((e) => e.action === 'rollback')?.at ?? Number.NaN) - breachAt;
    console.log(`webhook ${which}: breach → rollback decided ${decidedAfter} ms, breach → flag off ${offAfter} ms`);
    expect(result.outcome).toBe('rolled_back');
    expect(offAfter).toBeLessThan(bound);
    if (which === '500') {
      // Reported once per failed notification, after its few retries — not retried forever.
      expect(result.opsLog.filter((e) => e.action === 'notification-failed').map((e) => e.reason)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^notification rollback to channel ops failed: /)]),
      );
      const perKey = new Map<string, number>();
      for (const r of received) if (r.key) perKey.set(r.key, (perKey.get(r.key) ?? 0) + 1);
      expect(Math.max(...perKey.values())).toBeLessThanOrEqual(4);
    }
    expect(received.every((r) => r.key !== undefined)).toBe(true);
  }, 90_000);
});
