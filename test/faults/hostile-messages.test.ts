/**
 * Hostile messages against a real dev server and worker: payloads that do not parse, through the plain `temporal`
 * binary (null, none, wrong types, not JSON, an unknown encoding), a forged CFO approval racing an update with the
 * same id while the worker is down, and operator commands from nobody the plan grants. Each is refused in the ops log;
 * none fails a workflow task, and the rollout still answers queries and can be stopped by its owner afterwards.
 */
import { Worker } from '@temporalio/worker';
import { rolloutResult, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { approveUpdate } from '../../src/workflows/messages';
import { workflowCodeOptions } from '../../src/worker';
import { workflowBundle } from '../helpers/temporal-env';
import { startFaultWorld, waitForStatus, type FaultWorld } from './harness';

const PLAN = `
apiVersion: canary/v1
id: hostile
name: Hostile messages
owner: owner@example.com
target: { flags: [FLAG], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  cfo: { members: [cfo@example.com], signatureRequired: true, keys: [cfo-2026] }
analysis: { interval: 1s }
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - { name: canary-50, percent: 50, minDuration: 1s, approvals: [{ role: cfo }] }
  - { name: full, percent: 100, minDuration: 1s }
`;

/** The plan on a flag of its own: one rollout per flag, and each test runs its own. */
function plan(flag: string): Plan {
  const loaded = parsePlanText(PLAN.replace('FLAG', flag), 'hostile.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

describe('hostile messages are refused in the ops log and never wedge a rollout', () => {
  let world: FaultWorld;
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    world = await startFaultWorld({ taskQueue: 'faults-hostile', deps: { approverKeys: { keySet: async () => ({ keys: [] }) } } });
    stopWorker = (await world.startWorker()).stop;
  });
  afterAll(async () => {
    await world?.teardown();
  });

  it('refuses malformed payloads sent with the temporal binary, and the owner can still roll back', async () => {
    const id = 'hostile-payloads';
    const handle = await startRollout(world.env.client, plan(id), { workflowId: id, taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.waitingFor.some((w) => w.includes('cfo')));
    const signal = (name: string, ...extra: string[]) => world.temporal(['workflow', 'signal', '-w', id, '--name', name, ...extra]);
    const sent = [
      await signal('operator', '--input', 'null'),
      await signal('operator'),
      await signal('approve', '--input', '{"role":"cfo","by":42}'),
      await signal('operator', '--input', '{"command":"pause","by":"x","reason":{"why":"object"}}'),
      await signal('operator', '--input', JSON.stringify({ command: 'pause', by: 'x', reason: 'r'.repeat(100_000) })),
      await signal('operator', '--input', '{"command":"self-destruct","by":"x"}'),
      await signal('operator', '--input', '"x"', '--input-meta', 'encoding=application/x-unknown'),
      await signal('spend', '--input', '{"budget":"b","total":"NaN"}'),
    ];
    // Bytes that claim to be JSON and are not (the temporal binary checks its JSON input, so raw gRPC sends these).
    const encoder = new TextEncoder();
    await world.env.client.workflowService.signalWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: id },
      signalName: 'approve',
      input: { payloads: [{ metadata: { encoding: encoder.encode('json/plain') }, data: encoder.encode('{"role": "cfo", this is not json') }] },
    });
    sent.push({ code: 0, stdout: '', stderr: '' });
    expect(sent.map((r) => (r.code === 0 ? 'sent' : r.stderr))).toEqual(sent.map(() => 'sent'));
    const refused = await waitForStatus(handle, (s) => s.opsLog.filter((e) => e.action === 'refuse').length >= sent.length);
    const reasons = refused.opsLog.filter((e) => e.action === 'refuse').map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^operator message refused: malformed payload: payload: /),
        expect.stringMatching(/^approve message refused: malformed payload: by: /),
        expect.stringMatching(/^operator message refused: malformed payload: reason: /),
        expect.stringMatching(/reason: at most 2000 characters/),
        expect.stringMatching(/command: /),
        expect.stringMatching(/^operator message refused: payload \(encoding application\/x-unknown\) could not be decoded/),
        expect.stringMatching(/^approve message refused: payload \(encoding json\/plain\) could not be decoded/),
        expect.stringMatching(/^spend message refused: malformed payload: total: /),
      ]),
    );
    // Nothing moved, nothing is stored whole, and the rollout still answers and obeys its owner.
    expect(refused.percent).toBe(10);
    expect(JSON.stringify(refused.opsLog).length).toBeLessThan(50_000);
    const rollback = await world.temporal(['workflow', 'signal', '-w', id, '--name', 'operator', '--input', '{"command":"rollback","by":"owner@example.com","reason":"enough"}']);
    expect(rollback.code).toBe(0);
    const result = await rolloutResult(handle);
    expect(result.outcome).toBe('rolled_back');
    expect(result.finalPercent).toBe(0);
  }, 90_000);

  it('refuses promote --force, pause and rollback from someone the plan does not grant', async () => {
    const id = 'hostile-operator';
    const handle = await startRollout(world.env.client, plan(id), { workflowId: id, taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.waitingFor.some((w) => w.includes('cfo')));
    for (const command of ['force-promote', 'pause', 'rollback']) {
      const r = await world.temporal(['workflow', 'signal', '-w', id, '--name', 'operator', '--input', JSON.stringify({ command, by: 'mallory@evil', reason: 'x' })]);
      expect(r.code).toBe(0);
    }
    const status = await waitForStatus(handle, (s) => s.opsLog.filter((e) => e.action === 'refuse').length >= 3);
    expect(status.opsLog.filter((e) => e.action === 'refuse').map((e) => e.reason)).toEqual([
      expect.stringMatching(/^force-promote by mallory@evil refused: promote --force is off for this plan/),
      expect.stringMatching(/^pause by mallory@evil refused: pause needs the plan owner \(owner@example.com\)/),
      expect.stringMatching(/^rollback by mallory@evil refused: rollback needs the plan owner/),
    ]);
    expect(status.percent).toBe(10);
    expect(status.status).not.toBe('completed');
    await handle.terminate('test over');
  }, 60_000);

  it('does not count a forged CFO approval that races an update with the same id while the worker is down', async () => {
    const id = 'hostile-forged';
    const handle = await startRollout(world.env.client, plan(id), { workflowId: id, taskQueue: world.taskQueue });
    await waitForStatus(handle, (s) => s.waitingFor.some((w) => w.includes('cfo')));
    await stopWorker();
    const forged = { id: 'approval-1', role: 'cfo', by: 'cfo@example.com', signature: 'eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln' };
    expect((await world.temporal(['workflow', 'signal', '-w', id, '--name', 'approve', '--input', JSON.stringify(forged)])).code).toBe(0);
    // The same id again as an update without a signature: it waits for a worker.
    const update = handle.executeUpdate(approveUpdate, { args: [{ id: 'approval-1', role: 'cfo', by: 'cfo@example.com' }] }).catch((err: Error) => err);
    await new Promise((resolve) => setTimeout(resolve, 500));
    stopWorker = (await world.startWorker()).stop;
    const status = await waitForStatus(handle, (s) => s.opsLog.some((e) => e.action === 'refuse'));
    await update;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = await waitForStatus(handle, () => true);
    expect(after.percent).toBe(10);
    expect(after.opsLog.map((e) => e.reason).join('\n')).not.toMatch(/approved phase canary-50/);
    expect(status.opsLog.find((e) => e.action === 'refuse')?.reason).toMatch(/^approve by cfo cfo@example.com refused: an approval by cfo must carry a valid signature: signature does not verify/);
    // The history still replays against this code.
    const history = await handle.fetchHistory();
    await expect(
      Worker.runReplayHistory({ workflowBundle: workflowBundle(), dataConverter: { payloadConverterPath: workflowCodeOptions().payloadConverterPath } }, history, id),
    ).resolves.toBeUndefined();
    await handle.terminate('test over');
  }, 90_000);
});
