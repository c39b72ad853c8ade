/**
 * A dev-server restart on its SQLite file: the dev server keeps its state in `<tmp>/temporal.db` on a fixed port; a
 * rollout runs with the worker as its own process (`canary worker`), the server is stopped in the middle of a phase,
 * started again on the same file and port, a new worker process is started, and the rollout must carry on from where
 * it was — durable timers, flag state, notifications — and end with the decisions of an uninterrupted run. The
 * approval the last phases wait for is sent as a signal after the restart, and must count.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { getRollout, startRollout } from '../../src/client';
import { startDevServer } from '../../src/dev/dev-server';
import type { Plan } from '../../src/plan/schema';
import { approveSignal } from '../../src/workflows/messages';
import { testSetup } from '../helpers/temporal-env';
import { waitForStatus } from './harness';
import {
  decisionsOf,
  deliveryContent,
  distinctWrites,
  exposures,
  freePort,
  historyFaults,
  planFrom,
  sleep,
  startEdgeServices,
  startWorkerProcess,
  within,
  type EdgeServices,
  type WorkerProcess,
} from './process-harness';

const TASK_QUEUE = 'faults-server-restart';
const NOTIFY_URL_ENV = 'CANARY_FAULTS_NOTIFY_URL';

const PLAN = `
apiVersion: canary/v1
id: server-restart
name: Server restart
owner: owner@example.com
target: { flags: [FLAG], provider: flag-service, environment: faults }
providers:
  flags: { flag-service: { type: webhook, url: SERVICE_URL } }
channels:
  hook: { type: webhook, urlEnv: ${NOTIFY_URL_ENV} }
roles:
  release-manager: { members: [rm@example.com], signatureRequired: false }
analysis: { interval: 1s }
phases:
  - { name: canary-10, percent: 10, minDuration: 2s }
  - { name: canary-30, percent: 30, minDuration: 6s }
  - name: canary-60
    percent: 60
    minDuration: 2s
    approvals: [{ role: release-manager, at: enter, reason: More than half of the traffic. }]
  - { name: full, percent: 100, minDuration: 2s }
notifications:
  - on: [started, phase-entered, phase-advanced, approval-needed, approval-received, hold, resumed, paused, rollback, completed, flag-write-failed]
    channels: [hook]
`;

describe('dev-server restart on its SQLite file', () => {
  let env: TestWorkflowEnvironment | undefined;
  let edges: EdgeServices;
  let worker: WorkerProcess | undefined;
  let root: string;
  let port: number;
  let dbFilename: string;

  const startServer = async () => {
    env = await startDevServer({ executable: testSetup().cli, port, dbFilename });
    return env;
  };
  const startWorker = async () => {
    worker = await startWorkerProcess({ address: `127.0.0.1:${port}`, taskQueue: TASK_QUEUE, root, env: { [NOTIFY_URL_ENV]: edges.notifyUrl } });
    return worker;
  };
  const plan = (flag: string): Plan => planFrom(PLAN, { SERVICE_URL: edges.flagUrl, FLAG: flag });
  const approve = (client: TestWorkflowEnvironment['client'], id: string) =>
    client.workflow.getHandle(id).signal(approveSignal, { role: 'release-manager', by: 'rm@example.com', reason: 'the first phases went well' });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'canary-server-restart-'));
    dbFilename = join(root, 'temporal.db');
    port = await freePort();
    edges = await startEdgeServices();
  });

  afterAll(async () => {
    await worker?.kill();
    await env?.teardown();
    await edges?.close();
  });

  it('continues the rollout after the restart with the same decisions, and processes a signal sent afterwards', async () => {
    let server = await startServer();
    await startWorker();

    // The uninterrupted run of the same plan, on a flag of its own.
    const reference = await startRollout(server.client, plan('restart-reference'), { workflowId: 'restart-reference', taskQueue: TASK_QUEUE });
    await waitForStatus(reference, (s) => s.waitingFor.some((w) => w.includes('release-manager')), 60_000);
    await approve(server.client, 'restart-reference');
    const referenceResult = await within(60_000, 'the uninterrupted rollout', reference.result());

    // The same plan again; the server goes down 4 s into canary-30, whose 6 s minimum (a durable timer) falls due while
    // it is down.
    const flag = 'restart-faulted';
    const id = 'restart-faulted';
    const startedAt = Date.now();
    await startRollout(server.client, plan(flag), { workflowId: id, taskQueue: TASK_QUEUE });
    await within(30_000, 'the 30% write', (async () => {
      while (!edges.flagWrites.some((w) => w.value.key === flag && w.value.percent === 30)) await sleep(50);
    })());
    await sleep(4_000);
    const stoppedAt = Date.now();
    await server.teardown();
    env = undefined;
    const serverDownAt = Date.now();
    // What the worker does on its own while the server is away (it is restarted below either way).
    const oldWorker = worker as WorkerProcess;
    const exitedOnItsOwn = await Promise.race([oldWorker.exited.then((e) => `exited (${e.signal ?? e.code})`), sleep(3_000).then(() => undefined)]);
    await oldWorker.kill();

    server = await startServer();
    const serverUpAt = Date.now();
    await startWorker();
    const workerUpAt = Date.now();

    // The rollout carries on: it reaches the approval it waits for, then a signal sent now completes it.
    const handle = getRollout(server.client, id);
    await waitForStatus(handle, (s) => s.waitingFor.some((w) => w.includes('release-manager')), 60_000);
    const signalledAt = Date.now();
    await approve(server.client, id);
    const final = await within(60_000, 'the restarted rollout', handle.result());
    const completedAt = (await handle.describe()).closeTime?.getTime() ?? Number.NaN;
    const faults = await historyFaults(handle);

    const writes = edges.flagWrites.filter((w) => w.value.key === flag);
    const firstWriteAfter = writes.find((w) => w.at > serverUpAt);
    const firstTaskAfter = faults.workflowTasksCompletedAt.find((t) => t > serverUpAt);
    const deliveries = edges.deliveries.filter((d) => d.value.body.rolloutId === id);
    const byKey = new Map<string, string[]>();
    for (const d of deliveries) byKey.set(d.value.idempotencyKey ?? '(none)', [...(byKey.get(d.value.idempotencyKey ?? '(none)') ?? []), deliveryContent(d.value)]);
    const events = new Set(deliveries.map((d) => String(d.value.body.event)));
    const seconds = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '—' : `${(ms / 1000).toFixed(1)}s`);
    console.log(
      [
        `server-restart (worker via ${worker?.launcher}, db ${dbFilename}, port ${port}):`,
        `  server stopped ${seconds(stoppedAt - startedAt)} into the rollout (teardown ${seconds(serverDownAt - stoppedAt)}), ` +
          `back after ${seconds(serverUpAt - stoppedAt)}; the old worker ${exitedOnItsOwn ?? 'was still running 3 s later (killed)'}`,
        `  new worker up ${seconds(workerUpAt - serverUpAt)} after the server; first workflow task after the restart ${seconds(firstTaskAfter === undefined ? undefined : firstTaskAfter - serverUpAt)}, ` +
          `first flag write ${seconds(firstWriteAfter && firstWriteAfter.at - serverUpAt)} (${firstWriteAfter ? `${firstWriteAfter.value.percent}%` : 'none'})`,
        `  approval signalled ${seconds(signalledAt - serverUpAt)} after the restart; completed ${seconds(completedAt - signalledAt)} after it`,
        `  time at each percent (flag service): ${exposures(edges.flagWrites, flag).map((e) => `${e.percent}% ${seconds(e.ms)}`).join(', ')}`,
        `  flag writes: ${writes.map((w) => w.value.percent).join(', ')}; notifications: ${deliveries.length} deliveries, ${byKey.size} keys`,
        `  history: activity retries ${JSON.stringify(faults.activityRetries)}, workflow task timeouts ${JSON.stringify(faults.workflowTaskTimeouts)}`,
      ].join('\n'),
    );

    expect(referenceResult.outcome).toBe('completed');
    expect(final.outcome).toBe('completed');
    expect(final.finalPercent).toBe(100);
    expect(edges.flags.get(flag)).toEqual({ enabled: true, percent: 100 });
    expect(decisionsOf(final, flag)).toEqual(decisionsOf(referenceResult, 'restart-reference'));
    expect(distinctWrites(edges.flagWrites, flag)).toEqual([10, 30, 60, 100]);
    // Durable timers kept their deadlines across the restart: no phase was cut short of its minimum (less the few ms
    // a write takes to reach the service).
    const minimum: Record<number, number> = { 10: 2_000, 30: 6_000, 60: 2_000 };
    expect(exposures(edges.flagWrites, flag).map((e) => [e.percent, e.ms >= (minimum[e.percent] ?? 0) - 250])).toEqual([
      [10, true],
      [30, true],
      [60, true],
    ]);
    // The rollout went on after the restart (it was at 30% when the server stopped).
    expect(firstWriteAfter?.value.percent).toBe(60);
    // The signal sent after the restart is the approval that let the rollout into canary-60.
    const approval = final.opsLog.find((e) => e.action === 'approve');
    expect(approval).toMatchObject({ actor: 'rm@example.com', phase: 'canary-30' });
    expect(approval?.at).toBeGreaterThanOrEqual(signalledAt - 1_000);
    expect(final.opsLog.findIndex((e) => e.action === 'approve')).toBeLessThan(final.opsLog.findIndex((e) => e.phase === 'canary-60'));
    // Notifications went on across the restart: one content per key, and the ones after the restart arrived.
    expect([...byKey.values()].filter((contents) => new Set(contents).size > 1)).toEqual([]);
    expect([...events].sort()).toEqual(expect.arrayContaining(['approval-needed', 'approval-received', 'completed', 'phase-advanced', 'phase-entered', 'started']));
  }, 180_000);
});
