/**
 * One rollout per flag, whatever the workflow id: a second rollout of a flag another rollout drives is refused with
 * the holder's id before it writes anything — started under another id, with an overlapping flag list, through a
 * provider of another name on the same flag file, or with a raw `temporal workflow start`. A holder that settles
 * releases its flags; one that was terminated without settling loses them to the next rollout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { rolloutResult, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { startFaultWorld, waitForStatus, type FaultWorld } from './harness';

function plan(flags: string[], provider = 'flagd', path = 'flags.json'): Plan {
  const text = `
apiVersion: canary/v1
id: overlap
name: Overlap
owner: owner@example.com
target: { flags: [${flags.join(', ')}], provider: ${provider}, environment: prod }
providers:
  flags: { ${provider}: { type: flagd-file, path: ${path} } }
analysis: { interval: 1s }
phases:
  - { name: canary-10, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1s }
`;
  const loaded = parsePlanText(text, 'overlap.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

describe('one rollout per flag', () => {
  let world: FaultWorld;

  beforeAll(async () => {
    world = await startFaultWorld({ taskQueue: 'faults-overlap' });
    await world.startWorker();
  });
  afterAll(async () => {
    await world?.teardown();
  });

  const flagPercent = (flag: string): unknown => {
    const file = JSON.parse(readFileSync(join(world.root, 'flags.json'), 'utf8')) as { flags: Record<string, { metadata?: { rolloutPercent?: number } }> };
    return file.flags[flag]?.metadata?.rolloutPercent;
  };
  const refusal = async (handle: WorkflowHandle) => {
    const result = await rolloutResult(handle);
    return { outcome: result.outcome, percent: result.finalPercent, reason: result.opsLog.find((e) => e.action === 'refuse')?.reason };
  };

  it('refuses a second rollout of the same flags under another id, an overlapping list, another provider name and path spelling, and a raw start', async () => {
    const holder = await startRollout(world.env.client, plan(['pay-a', 'pay-b']), { workflowId: 'holder', taskQueue: world.taskQueue });
    await waitForStatus(holder, (s) => s.percent === 10);

    const otherId = await startRollout(world.env.client, plan(['pay-a', 'pay-b']), { workflowId: 'other-id', taskQueue: world.taskQueue });
    expect(await refusal(otherId)).toEqual({ outcome: 'aborted', percent: 0, reason: expect.stringMatching(/^rollout refused: flag pay-a is driven by rollout holder;/) });

    // pay-c is free and taken first, then pay-b is refused: pay-c must be released again.
    const overlapping = await startRollout(world.env.client, plan(['pay-c', 'pay-b']), { workflowId: 'overlapping', taskQueue: world.taskQueue });
    expect(await refusal(overlapping)).toMatchObject({ outcome: 'aborted', reason: expect.stringMatching(/flag pay-b is driven by rollout holder/) });
    const payC = await startRollout(world.env.client, plan(['pay-c']), { workflowId: 'pay-c-alone', taskQueue: world.taskQueue });
    await waitForStatus(payC, (s) => s.percent === 10);
    await payC.terminate('test over');

    const renamed = await startRollout(world.env.client, plan(['pay-b'], 'flags-by-another-name', './shared/../flags.json'), { workflowId: 'renamed', taskQueue: world.taskQueue });
    expect(await refusal(renamed)).toMatchObject({ outcome: 'aborted', reason: expect.stringMatching(/flag pay-b is driven by rollout holder/) });

    const raw = await world.temporal([
      'workflow', 'start', '--type', 'rolloutWorkflow', '--task-queue', world.taskQueue, '--workflow-id', 'raw-start',
      '--input', JSON.stringify({ plan: plan(['pay-a']) }),
    ]);
    expect(raw.code).toBe(0);
    expect(await refusal(world.env.client.workflow.getHandle('raw-start'))).toMatchObject({ outcome: 'aborted', reason: expect.stringMatching(/flag pay-a is driven by rollout holder/) });

    // None of them wrote: the holder's 10% stands.
    expect(flagPercent('pay-a')).toBe(10);
    expect(flagPercent('pay-b')).toBe(10);

    // The holder settles and releases its flags: the next rollout of them runs.
    await holder.signal('operator', { command: 'rollback', by: 'owner@example.com', reason: 'done here' });
    expect((await rolloutResult(holder)).outcome).toBe('rolled_back');
    const next = await startRollout(world.env.client, plan(['pay-a', 'pay-b']), { workflowId: 'next', taskQueue: world.taskQueue });
    await waitForStatus(next, (s) => s.percent === 10);

    // Terminated without settling: its locks go to the next rollout, which checks that the holder no longer runs.
    await next.terminate('operator terminated it');
    const after = await startRollout(world.env.client, plan(['pay-a']), { workflowId: 'after-terminate', taskQueue: world.taskQueue });
    await waitForStatus(after, (s) => s.percent === 10);
    await after.terminate('test over');
  }, 120_000);
});
