import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type Worker } from '@temporalio/worker';
import { rolloutResult, rolloutStatus, startRollout } from '../../src/client';
import { approveSignal, operatorSignal } from '../../src/workflows/messages';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { loadScenarioFile, type Scenario } from '../../src/simulate/scenario';
import { simulate } from '../../src/simulate/simulator';
import { createRolloutDeps, createWorker } from '../../src/worker';
import { createTimeSkippingEnv, withTimeNudges, workflowBundle } from '../helpers/temporal-env';

const fixtures = resolve(__dirname, '..', 'fixtures');
const taskQueue = 'rollout-time-skipping';

async function plan(name: string): Promise<Plan> {
  const loaded = await loadPlanFile(join(fixtures, 'plans', `${name}.yaml`));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

describe('rollout workflow on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const scenarios = new Map<string, Scenario>();
  const flagRoot = mkdtempSync(join(tmpdir(), 'canary-rollout-'));

  // A fresh time-skipping server per test: time is global to a server, and a finished rollout's leftovers must not
  // steer the next test's clock.
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
    worker = await createWorker({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: workflowBundle(),
      rolloutDeps: createRolloutDeps({ scenario: (id) => scenarios.get(id), flagFileRoot: flagRoot, configFile: join(flagRoot, 'config.json') }),
    });
    running = worker.run();
  });

  afterEach(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  const flagFile = (id: string) => join(flagRoot, id, 'flags.json');
  const planFor = async (id: string): Promise<Plan> => {
    const p = await plan('mini');
    // Each rollout writes its own flag file, so tests can assert it.
    return { ...p, providers: { ...p.providers, flags: { flagd: { type: 'flagd-file', path: flagFile(id) } } } };
  };

  it('walks every phase, refuses forged approvals, waits for the CFO, and ends at 100% with the flag file to match', async () => {
    const id = 'mini-happy';
    scenarios.set(id, loadScenarioFile(join(fixtures, 'scenarios', 'mini-happy.yaml')));
    const handle = await startRollout(env.client, await planFor(id), { workflowId: id, taskQueue, localActivities: false });
    await withTimeNudges(env, id, env.sleep(150 * 60_000 + 17_000));
    const status = await rolloutStatus(handle);
    expect(status.phase).toBe('canary-10');
    expect(status.waitingFor.join('\n')).toContain('approval by cfo (0 of 1) to enter canary-25');

    // Signals here: the time-skipping test server can hang on updates (updates are covered on the dev server).
    await handle.signal(approveSignal, { id: 'forged', role: 'cfo', by: 'mallory@example.com' });
    await handle.signal(approveSignal, { id: 'no-such-role', role: 'ceo', by: 'cfo@example.com' });
    await handle.signal(approveSignal, { id: 'cfo-ok', role: 'cfo', by: 'cfo@example.com', reason: 'numbers look fine' });
    const result = await withTimeNudges(env, id, rolloutResult(handle));
    expect(result.outcome).toBe('completed');
    expect(result.finalPercent).toBe(100);
    expect(result.decisions.map((d) => `${d.phase}:${d.action}`)).toEqual([
      'before-start:start',
      'canary-10:enter-phase',
      'canary-10:wait',
      'canary-10:refuse',
      'canary-10:refuse',
      'canary-10:approve',
      'canary-25:advance',
      'full:advance',
      'full:complete',
    ]);
    expect(JSON.parse(readFileSync(flagFile(id), 'utf8')).flags['checkout-v2']).toMatchObject({ state: 'ENABLED', metadata: { rolloutPercent: 100 } });
    const refusals = result.opsLog.filter((e) => e.action === 'refuse').map((e) => e.reason);
    expect(refusals).toEqual([expect.stringMatching(/does not hold the role cfo/), expect.stringMatching(/unknown role "ceo"/)]);
  });

  it('rolls back on a sustained error rate exactly as the simulator decides, leaving the flag off', async () => {
    const id = 'mini-hard-stop';
    const scenario = loadScenarioFile(join(fixtures, 'scenarios', 'mini-hard-stop.yaml'));
    scenarios.set(id, scenario);
    const p = await planFor(id);
    const handle = await startRollout(env.client, p, { workflowId: id, taskQueue, localActivities: false });
    await withTimeNudges(env, id, env.sleep(60 * 60_000 + 17_000));
    await handle.signal(approveSignal, { role: 'cfo', by: 'cfo@example.com' });
    const result = await withTimeNudges(env, id, rolloutResult(handle));

    expect(result.outcome).toBe('rolled_back');
    expect(result.finalPercent).toBe(0);
    const rollback = result.decisions.find((d) => d.action === 'rollback');
    expect(rollback?.reason).toContain('trigger error-hard-stop fired: error_rate = 0.08');
    expect(JSON.parse(readFileSync(flagFile(id), 'utf8')).flags['checkout-v2']).toMatchObject({ state: 'DISABLED', metadata: { rolloutPercent: 0 } });

    const simulated = await simulate(p, scenario, { start: result.decisions[0]?.at });
    expect(simulated.outcome).toBe(result.outcome);
    expect(simulated.result.decisions.map((d) => `${d.phase}:${d.action}`)).toEqual(result.decisions.map((d) => `${d.phase}:${d.action}`));
  });

  it('refuses a resume from a role granted only safety commands, and rolls back on its abort', async () => {
    const id = 'mini-abort';
    scenarios.set(id, loadScenarioFile(join(fixtures, 'scenarios', 'mini-happy.yaml')));
    const handle = await startRollout(env.client, await planFor(id), { workflowId: id, taskQueue, localActivities: false });
    await handle.signal(operatorSignal, { command: 'resume', by: 'sre@example.com', role: 'sre' });
    await handle.signal(operatorSignal, { command: 'abort', by: 'sre@example.com', role: 'sre', reason: 'customer escalation' });
    const result = await withTimeNudges(env, id, rolloutResult(handle));
    expect(result.outcome).toBe('aborted');
    expect(result.decisions.at(-1)?.reason).toContain('aborted by sre@example.com (sre): customer escalation');
    expect(result.opsLog.find((e) => e.action === 'refuse')?.reason).toMatch(/resume by .*refused: resume needs the plan owner: this plan grants no operator role for it/);
  });
});
