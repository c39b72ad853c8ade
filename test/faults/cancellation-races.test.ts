/**
 * A cancellation request that lands in the middle of something: a slow first flag write, a rollback whose write keeps
 * failing, an advance whose write is still in flight, or just before an operator's update. Whatever it interrupts,
 * no flag write is cut short or lost, the rollout ends at 0% with a record that matches the flag store, and an
 * update the rollout processed is answered as accepted.
 */
import { rolloutResult, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { operatorUpdate } from '../../src/workflows/messages';
import { startFaultWorld, startWebhookFlagStore, waitForStatus, type FaultWorld, type WebhookFlagStore } from './harness';

function plan(url: string, flag: string, extra = '', enterTask = false): Plan {
  const task = enterTask ? '\n    tasks: [{ name: smoke, on: enter, run: { type: command, command: "true" } }]' : '';
  const text = `
apiVersion: canary/v1
id: cancel-races
name: Cancel races
owner: owner@example.com
target: { flags: [${flag}], provider: flags, environment: prod }
providers:
  flags: { flags: { type: webhook, url: "${url}" } }
  metrics: { live: { type: scenario } }
analysis: { interval: 1s }
roles:
  sre: { members: [sre@example.com] }
controls: { operators: [sre] }
phases:
  - name: canary-10
    percent: 10
    minDuration: 1s${task}
  - { name: canary-50, percent: 50, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1s }
${extra}`;
  const loaded = parsePlanText(text, 'cancel-races.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a cancellation request racing what the rollout is doing', () => {
  let world: FaultWorld;
  let store: WebhookFlagStore;
  let url = '';
  /** Per flag: how long a write takes, and whether writes to off fail. */
  const slow = new Map<string, number>();
  const failOff = new Set<string>();
  const flags = () => store.flags;
  /** Waits until a write of `percent` to `flag` has reached the store (answered or not): a test cancels then. */
  const arrived = async (flag: string, percent: number) => {
    while (!store.received.some((w) => w.flag === flag && w.percent === percent)) await sleep(10);
  };

  beforeAll(async () => {
    store = await startWebhookFlagStore();
    store.answer = ({ flag, enabled }) => ({ delayMs: slow.get(flag) ?? 0, refuse: !enabled && failOff.has(flag) });
    url = store.url;
    world = await startFaultWorld({ taskQueue: 'faults-cancel-races' });
    await world.startWorker();
  });
  afterAll(async () => {
    await world?.teardown();
    await store?.close();
  });

  it('during the first flag write: the write lands, then traffic goes back to 0% and the workflow completes aborted', async () => {
    slow.set('first-write', 1_500);
    // The first phase starts a task when it is entered: the workflow has more to await after the write.
    const handle = await startRollout(world.env.client, plan(url, 'first-write', '', true), { workflowId: 'cancel-first-write', taskQueue: world.taskQueue });
    // The first phase's write has reached the store and is not answered yet.
    await arrived('first-write', 10);
    slow.delete('first-write');
    await handle.cancel();
    const result = await rolloutResult(handle);
    expect(result).toMatchObject({ outcome: 'aborted', finalPercent: 0 });
    await sleep(2_000); // longer than the slow write: one cut short would have landed by now
    expect(flags().get('first-write')).toEqual({ enabled: false, percent: 0 });
    expect((await handle.describe()).status.name).toBe('COMPLETED');
  }, 60_000);

  it('during a rollback whose write to off keeps failing: the write is still retried until it lands, and the record matches the store', async () => {
    const handle = await startRollout(world.env.client, plan(url, 'failing-off'), { workflowId: 'cancel-failing-rollback', taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.phase === 'canary-50' && flags().get('failing-off')?.percent === 50);
    failOff.add('failing-off');
    await handle.executeUpdate(operatorUpdate, { args: [{ command: 'rollback', by: 'sre@example.com', role: 'sre', reason: 'bad numbers' }] }).catch(() => undefined);
    // The write to off has failed once and is being retried by its activity: cancel while that is going on.
    await arrived('failing-off', 0);
    await handle.cancel();
    await sleep(1_500);
    expect(flags().get('failing-off')).toEqual({ enabled: true, percent: 50 });
    failOff.delete('failing-off');
    const result = await rolloutResult(handle);
    expect(result.outcome).toBe('rolled_back');
    expect(flags().get('failing-off')).toEqual({ enabled: false, percent: 0 });
  }, 60_000);

  it('during an advance whose write is in flight: no write lands after the abort’s 0%', async () => {
    const handle = await startRollout(world.env.client, plan(url, 'slow-advance', ''), { workflowId: 'cancel-slow-advance', taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.phase === 'canary-10' && flags().get('slow-advance')?.percent === 10);
    slow.set('slow-advance', 2_000);
    // The write to 50% has reached the store, which answers it in 2 s: cancel while it is in flight.
    await arrived('slow-advance', 50);
    await handle.cancel();
    slow.delete('slow-advance');
    const result = await rolloutResult(handle);
    expect(result).toMatchObject({ outcome: 'aborted', finalPercent: 0 });
    await sleep(2_500); // longer than the slow write: one cut short would have landed by now
    const last = store.writes.filter((w) => w.flag === 'slow-advance' && w.stored).at(-1);
    expect(last).toMatchObject({ enabled: false, percent: 0 });
    expect(flags().get('slow-advance')).toEqual({ enabled: false, percent: 0 });
  }, 60_000);

  it('an operator update sent after the cancellation is processed, and answered as accepted', async () => {
    // The abort's rollback waits up to 10 s for a verification that never holds: a kill arrives while it waits.
    const verify = `metrics: { error_rate: { source: live, query: error_rate, unit: ratio } }
rollback: { verify: { within: 10s, checks: [{ name: never, when: { kind: threshold, metric: error_rate, op: ">", value: 1 } }] } }`;
    const handle = await startRollout(world.env.client, plan(url, 'update-after', verify), { workflowId: 'cancel-then-kill', taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.phase === 'canary-50');
    await handle.cancel();
    await waitForStatus(handle, (s) => s.status === 'rolling-back');
    const kill = await handle.executeUpdate(operatorUpdate, { args: [{ command: 'kill', by: 'sre@example.com', role: 'sre', reason: 'stop it now' }] });
    expect(kill).toMatchObject({ accepted: true, status: 'killed' });
    const result = await rolloutResult(handle);
    expect(result.outcome).toBe('killed');
    expect(flags().get('update-after')).toEqual({ enabled: false, percent: 0 });
  }, 60_000);
});
