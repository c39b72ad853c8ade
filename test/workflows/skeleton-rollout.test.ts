import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { abortRollout, approveStep, skeletonResult, skeletonStatus, startSkeletonRollout } from '../../src/client';
import { createWorker } from '../../src/worker';
import type { SkeletonRolloutInput } from '../../src/workflows/skeleton-rollout';
import { createTimeSkippingEnv, workflowBundle, timeSkippingWorkerOptions } from '../helpers/temporal-env';

const TWO_HOURS_MS = 2 * 60 * 60 * 1000;

const input: SkeletonRolloutInput = {
  planId: 'skeleton',
  flagKey: 'checkout-v2',
  steps: [
    { name: 'canary', percent: 10, minDuration: '2h' },
    { name: 'full', percent: 100, minDuration: '30m' },
  ],
};

describe('walking-skeleton rollout on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let flagFile: string;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
    flagFile = join(mkdtempSync(join(tmpdir(), 'canary-flags-')), 'flags.json');
    worker = await createWorker({
      connection: env.nativeConnection,
      taskQueue: 'skeleton-time-skipping',
      flagFile,
      workflowBundle: workflowBundle(),
      workerOptions: timeSkippingWorkerOptions,
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  const flagInFile = (key: string) => JSON.parse(readFileSync(flagFile, 'utf8')).flags[key];

  it('sleeps through a two-hour minimum duration, advances on approval and ends at 100%', async () => {
    const handle = await startSkeletonRollout(env.client, input, {
      workflowId: 'skeleton-happy',
      taskQueue: 'skeleton-time-skipping',
    });
    // Approvals sent up front: a step still waits out its minimum duration before it counts them.
    await approveStep(handle, 'canary', 'po@example.com');
    await approveStep(handle, 'full', 'po@example.com');

    const wallStart = Date.now();
    const result = await skeletonResult(handle);
    const wallMs = Date.now() - wallStart;

    expect(result.outcome).toBe('completed');
    expect(result.finalPercent).toBe(100);
    expect(result.stepsEntered).toEqual(['canary', 'full']);
    // Virtual time covered both minimum durations; the wall time is reported, not asserted (see bench/).
    expect(result.elapsedMs).toBeGreaterThanOrEqual(TWO_HOURS_MS + 30 * 60 * 1000);
    console.info(`skeleton: ${Math.round(result.elapsedMs / 60000)} virtual minutes in ${wallMs} ms of wall time`);

    expect(flagInFile('checkout-v2')).toMatchObject({ state: 'ENABLED', metadata: { rolloutPercent: 100 } });
  });

  it('holds at a step until approved, then rolls the flag back to off when aborted', async () => {
    const handle = await startSkeletonRollout(env.client, { ...input, flagKey: 'search-v3' }, {
      workflowId: 'skeleton-abort',
      taskQueue: 'skeleton-time-skipping',
    });
    await env.sleep('3h'); // past the canary step's minimum duration, with no approval given
    const status = await skeletonStatus(handle);
    expect(status).toMatchObject({ step: 'canary', percent: 10, waitingForApproval: true });
    expect(flagInFile('search-v3')).toMatchObject({ state: 'ENABLED', metadata: { rolloutPercent: 10 } });

    await abortRollout(handle, 'error rate 4% on canary', 'oncall@example.com');
    const result = await skeletonResult(handle);

    expect(result).toMatchObject({
      outcome: 'rolled_back',
      finalPercent: 0,
      stepsEntered: ['canary'],
      reason: 'aborted by oncall@example.com: error rate 4% on canary',
    });
    expect(flagInFile('search-v3')).toMatchObject({ state: 'DISABLED', metadata: { rolloutPercent: 0 } });
  });
});
