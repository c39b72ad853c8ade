/**
 * The fault suite's harness: a real dev server, rollout workers that a test starts and stops (or kills) at will, the
 * plain `temporal` binary for raw messages, and small helpers to wait on a rollout's status.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { rolloutStatus } from '../../src/client';
import type { RolloutActivityDeps } from '../../src/activities/rollout-activities';
import { parseScenario } from '../../src/simulate/scenario';
import { createRolloutDeps, createWorker } from '../../src/worker';
import type { RolloutStatusView } from '../../src/workflows/messages';
import { createDevServerEnv, testSetup, workflowBundle } from '../helpers/temporal-env';

export interface FaultWorld {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  root: string;
  /** Starts a rollout worker in this process; `stop` waits for it to shut down. */
  startWorker(deps?: Partial<RolloutActivityDeps>): Promise<{ worker: Worker; stop(): Promise<void> }>;
  /** Runs the plain `temporal` binary against the server; resolves with its exit code and output. */
  temporal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  teardown(): Promise<void>;
}

export async function startFaultWorld(options: { taskQueue: string; scenario?: string; deps?: Partial<RolloutActivityDeps> }): Promise<FaultWorld> {
  const env = await createDevServerEnv();
  const root = mkdtempSync(join(tmpdir(), 'canary-faults-'));
  const workers = new Set<{ worker: Worker; running: Promise<void> }>();
  const cli = testSetup().cli;
  if (cli.type !== 'existing-path') throw new Error('the fault suite needs the temporal CLI binary on disk');
  const base = createRolloutDeps({
    scenario: parseScenario(options.scenario ?? 'duration: 2h\nmetrics: { error_rate: 0.001 }'),
    flagFileRoot: root,
    configFile: join(root, 'config.json'),
  });
  return {
    env,
    taskQueue: options.taskQueue,
    root,
    async startWorker(deps = {}) {
      const worker = await createWorker({
        connection: env.nativeConnection,
        taskQueue: options.taskQueue,
        workflowBundle: workflowBundle(),
        rolloutDeps: { ...base, ...options.deps, ...deps },
        workerOptions: { shutdownGraceTime: '1s' },
      });
      const entry = { worker, running: worker.run() };
      workers.add(entry);
      return {
        worker,
        stop: async () => {
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await entry.running;
          workers.delete(entry);
        },
      };
    },
    temporal: (args) =>
      new Promise((resolve) => {
        execFile(cli.path, [...args, '--address', env.address, '--namespace', 'default'], { timeout: 30_000 }, (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
        });
      }),
    async teardown() {
      for (const entry of workers) {
        if (entry.worker.getState() === 'RUNNING') entry.worker.shutdown();
        await entry.running.catch(() => undefined);
      }
      await env.teardown();
    },
  };
}

/** Polls the rollout's status until `done` holds (or fails after `timeoutMs`, naming the last status). */
export async function waitForStatus(
  handle: WorkflowHandle,
  done: (status: RolloutStatusView) => boolean,
  timeoutMs = 30_000,
): Promise<RolloutStatusView> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutStatusView | undefined;
  for (;;) {
    last = await rolloutStatus(handle).catch(() => last);
    if (last && done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out; last status: ${JSON.stringify(last && { status: last.status, phase: last.phase, percent: last.percent, waitingFor: last.waitingFor, log: last.opsLog.slice(-5) })}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One write a {@link WebhookFlagStore} received: when, to which flag, what, and whether it was stored. */
export interface StoreWrite {
  at: number;
  flag: string;
  enabled: boolean;
  percent: number;
  stored: boolean;
}

/**
 * A flag service with the webhook provider's documented API (PUT/GET /flags/<key>, JSON {enabled, percent}) that a
 * test controls: `answer` says, per write as it arrives, how long to take and whether to refuse it (503).
 */
export interface WebhookFlagStore {
  url: string;
  flags: Map<string, { enabled: boolean; percent: number }>;
  /** Writes as they arrive, before they are answered. */
  received: Array<Omit<StoreWrite, 'stored'>>;
  /** Writes as they were answered. */
  writes: StoreWrite[];
  answer: (write: { flag: string; enabled: boolean; percent: number }) => { delayMs?: number; refuse?: boolean };
  close(): Promise<void>;
}

export async function startWebhookFlagStore(): Promise<WebhookFlagStore> {
  const store: Omit<WebhookFlagStore, 'url' | 'close'> = { flags: new Map(), received: [], writes: [], answer: () => ({}) };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const flag = decodeURIComponent((req.url ?? '').replace(/^\/flags\//, ''));
      if (req.method === 'PUT') {
        const state = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { enabled: boolean; percent: number };
        store.received.push({ at: Date.now(), flag, ...state });
        const { delayMs = 0, refuse = false } = store.answer({ flag, ...state });
        setTimeout(() => {
          store.writes.push({ at: Date.now(), flag, ...state, stored: !refuse });
          if (refuse) return void res.writeHead(503).end('maintenance');
          store.flags.set(flag, state);
          res.writeHead(204).end();
        }, delayMs);
        return;
      }
      const state = store.flags.get(flag);
      if (!state) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(store, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}
