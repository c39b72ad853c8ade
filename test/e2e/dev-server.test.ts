import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { approveStep, skeletonResult, skeletonStatus, startSkeletonRollout } from '../../src/client';
import { createWorker } from '../../src/worker';
import { canaryPlanIdKey, canaryStatusKey, canaryTrafficPercentKey } from '../../src/workflows/search-attributes';
import { createDevServerEnv, testSetup, workflowBundle } from '../helpers/temporal-env';

describe('walking-skeleton rollout end to end on the dev server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let flagFile: string;

  beforeAll(async () => {
    env = await createDevServerEnv();
    flagFile = join(mkdtempSync(join(tmpdir(), 'canary-flags-')), 'flags.json');
    worker = await createWorker({ connection: env.nativeConnection, taskQueue: 'e2e', flagFile, workflowBundle: workflowBundle() });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  it('completes after each step is approved, is listed with its search attributes, and its history replays', async () => {
    const handle = await startSkeletonRollout(
      env.client,
      {
        planId: 'e2e-plan',
        flagKey: 'checkout-v2',
        steps: [
          { name: 'canary', percent: 10, minDuration: '300ms' },
          { name: 'full', percent: 100, minDuration: '300ms' },
        ],
      },
      { workflowId: 'rollout:checkout-v2:e2e', taskQueue: 'e2e' },
    );

    for (const step of ['canary', 'full']) {
      await waitFor(async () => {
        const status = await skeletonStatus(handle);
        return status.step === step && status.waitingForApproval;
      });
      await approveStep(handle, step, 'release-manager@example.com');
    }
    const result = await skeletonResult(handle);

    expect(result).toMatchObject({ outcome: 'completed', finalPercent: 100, stepsEntered: ['canary', 'full'] });
    expect(JSON.parse(readFileSync(flagFile, 'utf8')).flags['checkout-v2']).toMatchObject({
      state: 'ENABLED',
      targeting: { fractional: [['on', 100], ['off', 0]] },
    });

    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(canaryPlanIdKey)).toBe('e2e-plan');
    expect(described.typedSearchAttributes.get(canaryStatusKey)).toBe('completed');
    expect(described.typedSearchAttributes.get(canaryTrafficPercentKey)).toBe(100);

    // The resolved CLI sees the same server and finds the rollout by its plan id.
    const cli = testSetup().cli;
    if (cli.type === 'existing-path') {
      const listed = execFileSync(
        cli.path,
        ['workflow', 'list', '--address', env.address, '--query', 'CanaryPlanId="e2e-plan"', '--output', 'json'],
        { encoding: 'utf8' },
      );
      expect(listed).toContain('rollout:checkout-v2:e2e');
    }

    const history = await handle.fetchHistory();
    await expect(
      Worker.runReplayHistory({ workflowBundle: workflowBundle() }, history, 'rollout:checkout-v2:e2e'),
    ).resolves.toBeUndefined();
  });
});

async function waitFor(predicate: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}
