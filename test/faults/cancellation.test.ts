/**
 * A cancellation request — the Temporal UI's "Request Cancellation", `temporal workflow cancel` — stops the rollout
 * the safe way: traffic straight off the canary and configuration reverted, in a scope the cancellation cannot
 * reach, and the workflow completes with its record (outcome aborted) and releases its flags. Before this rule the
 * workflow ended "canceled" with the flag still at the canary's percentage and its lock held.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { rolloutResult, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { workflowCodeOptions } from '../../src/worker';
import { workflowBundle } from '../helpers/temporal-env';
import { startFaultWorld, waitForStatus, type FaultWorld } from './harness';

function plan(extra = ''): Plan {
  const text = `
apiVersion: canary/v1
id: cancel
name: Cancel
owner: owner@example.com
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { live: { type: scenario } }
metrics:
  error_rate: { source: live, query: error_rate, unit: ratio }
analysis: { interval: 1s }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - { name: canary-50, percent: 50, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1s }
${extra}`;
  const loaded = parsePlanText(text, 'cancel.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

describe('a cancellation request', () => {
  let world: FaultWorld;

  beforeAll(async () => {
    world = await startFaultWorld({ taskQueue: 'faults-cancel' });
    await world.startWorker();
  });
  afterAll(async () => {
    await world?.teardown();
  });

  const flag = () =>
    (JSON.parse(readFileSync(join(world.root, 'flags.json'), 'utf8')) as { flags: Record<string, { state: string; defaultVariant: string; metadata?: { rolloutPercent?: number } }> }).flags['checkout-v2'];

  it('from the client takes traffic off the canary, completes the workflow as aborted and releases the flag', async () => {
    const handle = await startRollout(world.env.client, plan(), { workflowId: 'cancel-me', taskQueue: world.taskQueue });
    // The status moves on the decision; the flag file once the write has landed.
    await waitForStatus(handle, (s) => s.phase === 'canary-50' && flag()?.metadata?.rolloutPercent === 50);

    await handle.cancel();
    const result = await rolloutResult(handle);
    expect(result).toMatchObject({ outcome: 'aborted', finalPercent: 0 });
    expect(result.opsLog.find((e) => e.action === 'rollback')?.reason).toMatch(/^ROLLBACK: the workflow was cancelled in Temporal; .*flags to 0%/);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    expect(flag()?.metadata?.rolloutPercent ?? 0).toBe(0);

    // The flag is free: the next rollout of it is not refused.
    const next = await startRollout(world.env.client, plan(), { workflowId: 'after-cancel', taskQueue: world.taskQueue });
    const status = await waitForStatus(next, (s) => s.phase === 'canary-10' || s.phase === 'canary-50' || s.status === 'aborted');
    expect(status.status).not.toBe('aborted');
    await next.terminate('test over');
  }, 60_000);

  it('from the raw temporal CLI does the same, and the history replays', async () => {
    const handle = await startRollout(world.env.client, plan(), { workflowId: 'cancel-by-cli', taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.phase === 'canary-50' && flag()?.metadata?.rolloutPercent === 50);
    const cancelled = await world.temporal(['workflow', 'cancel', '--workflow-id', handle.workflowId]);
    expect(cancelled.code).toBe(0);
    const result = await rolloutResult(handle);
    expect(result).toMatchObject({ outcome: 'aborted', finalPercent: 0 });
    expect(flag()?.metadata?.rolloutPercent ?? 0).toBe(0);
    const history = await handle.fetchHistory();
    await expect(
      Worker.runReplayHistory({ workflowBundle: workflowBundle(), dataConverter: { payloadConverterPath: workflowCodeOptions().payloadConverterPath } }, history, handle.workflowId),
    ).resolves.toBeUndefined();
  }, 60_000);
});

describe('a cancellation request while the flag locks are still being taken', () => {
  let world: FaultWorld;

  beforeAll(async () => {
    world = await startFaultWorld({ taskQueue: 'faults-cancel-locks' });
    // The lock activity never gives up on its own; here every attempt fails (the flag store cannot be identified).
    await world.startWorker({
      flagStoreIdentity: () => {
        throw new Error('flag store unreachable');
      },
    });
  });
  afterAll(async () => {
    await world?.teardown();
  });

  it('stops the taking and ends the rollout aborted, before anything was written', async () => {
    const handle = await startRollout(world.env.client, plan(), { workflowId: 'cancel-while-locking', taskQueue: world.taskQueue });
    // The lock activity has failed at least once and is being retried.
    for (;;) {
      const history = await handle.fetchHistory();
      if (history.events?.some((e) => e.activityTaskStartedEventAttributes?.attempt && e.activityTaskStartedEventAttributes.attempt > 1) || (await handle.describe()).raw.pendingActivities?.some((a) => (a.attempt ?? 0) > 1)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await handle.cancel();
    const result = await rolloutResult(handle);
    expect(result).toMatchObject({ outcome: 'aborted', finalPercent: 0 });
    expect(result.opsLog.map((e) => e.action)).not.toContain('start');
    expect((await handle.describe()).status.name).toBe('COMPLETED');
  }, 60_000);
});
