/**
 * `npm start`'s demo, end to end on a real dev server: the demo target under load, a worker and plans/demo.yaml as
 * written. Both stories run at the same time (own flag files, targets and task queues) to keep the file short.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runDemo, type DemoReport } from '../../src/demo/run-demo';
import { FlagdFileStore } from '../../src/providers/flags/flagd-file-store';
import { createDevServerEnv, workflowBundle } from '../helpers/temporal-env';

jest.setTimeout(180_000);

interface Story {
  root: string;
  output: string[];
  report: Promise<DemoReport>;
}

describe('the npm start demo on a dev server', () => {
  let env: TestWorkflowEnvironment;
  let happy: Story;
  let fault: Story;

  const story = (name: string, options: Partial<Parameters<typeof runDemo>[0]>): Story => {
    const root = mkdtempSync(join(tmpdir(), `canary-demo-${name}-`));
    const output: string[] = [];
    const report = runDemo({
      client: env.client,
      connection: env.nativeConnection,
      workflowBundle: workflowBundle(),
      taskQueue: `demo-e2e-${name}`,
      workflowId: `rollout:checkout-v2:demo-e2e-${name}`,
      root,
      uiUrl: 'http://localhost:8233',
      approveAfterMs: 1_000,
      out: (line) => output.push(line),
      ...options,
    });
    // Awaited by the tests; a rejection here must not go unhandled before they run.
    report.catch(() => undefined);
    return { root, output, report };
  };

  beforeAll(async () => {
    env = await createDevServerEnv();
    happy = story('happy', {});
    fault = story('fault', { fault: { errorRate: 0.05 } });
  });

  afterAll(async () => {
    await Promise.allSettled([happy?.report, fault?.report]);
    await env?.teardown();
    await Promise.all([happy, fault].filter(Boolean).map((s) => rm(s.root, { recursive: true, force: true })));
  });

  it('completes at 100% after the release manager approves, with the flag file at 100% and all traffic on the canary', async () => {
    const report = await happy.report;
    expect(report).toMatchObject({ expected: 'completed', outcome: 'completed', finalPercent: 100, storyHappened: true });
    await expect(new FlagdFileStore(join(happy.root, '.canary', 'flags.json')).read('checkout-v2')).resolves.toEqual({ enabled: true, percent: 100 });
    expect(report.split.stable).toBe(0);
    expect(report.split.canary).toBeGreaterThan(0);
    expect(happy.output).toContain('    npm run canary -- approve rollout:checkout-v2:demo-e2e-happy --role release-manager --by release-manager@demo');
    expect(happy.output).toContain('Approved as release-manager@demo (release-manager).');
    expect(happy.output.some((line) => /ops log: full 100% advance — advanced to full at 100% \(from 50%\)/.test(line))).toBe(true);
    expect(happy.output).toContain('History: http://localhost:8233/namespaces/default/workflows/rollout%3Acheckout-v2%3Ademo-e2e-happy');
  });

  it('rolls back on the error-rate hard stop when the canary fails 5% of requests, with the flag off and all traffic on stable', async () => {
    const report = await fault.report;
    expect(report).toMatchObject({ expected: 'rolled_back', outcome: 'rolled_back', finalPercent: 0, storyHappened: true });
    await expect(new FlagdFileStore(join(fault.root, '.canary', 'flags.json')).read('checkout-v2')).resolves.toEqual({ enabled: false, percent: 0 });
    expect(report.split.canary).toBe(0);
    expect(report.split.stable).toBeGreaterThan(0);
    expect(fault.output.some((line) => /ops log: .* rollback — ROLLBACK: trigger error-rate-hard-stop fired/.test(line))).toBe(true);
    expect(fault.output).toContain('The demo worked: the hard stop rolled back, the flag is off and every request goes to v1.');
  });
});
