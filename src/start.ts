/**
 * `npm start`: the main job. Starts (or connects to) a Temporal server, starts the worker, starts the demo rollout,
 * approves its steps as an approver would, and prints the workflow id and the UI link. Ctrl-C stops everything it
 * started.
 *
 * With TEMPORAL_ADDRESS or an envconfig profile naming a server, it uses that server instead of starting one.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { approveStep, configuredServer, skeletonResult, skeletonStatus, startSkeletonRollout } from './client';
import { startDevServer } from './dev/dev-server';
import { createWorker, DEFAULT_FLAG_FILE } from './worker';
import type { SkeletonRolloutInput } from './workflows/skeleton-rollout';

const DEV_PORT = 7233;
const UI_PORT = 8233;
const STATE_FILE = resolve('.temporal', 'dev-server', 'state.sqlite');

const DEMO: SkeletonRolloutInput = {
  planId: 'demo',
  flagKey: 'checkout-v2',
  steps: [
    { name: 'canary-10', percent: 10, minDuration: '3s' },
    { name: 'canary-50', percent: 50, minDuration: '3s' },
    { name: 'full', percent: 100, minDuration: '1s' },
  ],
};

async function main(): Promise<void> {
  // Keep the terminal for the rollout's story; worker warnings and errors still show.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const s of stops.reverse()) await s().catch((err: unknown) => console.error(err));
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(130));
  process.on('SIGTERM', () => void stop(143));

  const configured = configuredServer();
  let client: Client;
  let connection: NativeConnection;
  let uiUrl: string;
  if (configured.explicit) {
    console.log(`Using the configured Temporal server at ${configured.address} (namespace ${configured.namespace}).`);
    connection = await NativeConnection.connect({ ...configured.connectionOptions, address: configured.address });
    stops.push(() => connection.close());
    const clientConnection = await Connection.connect({ ...configured.connectionOptions, address: configured.address });
    stops.push(() => clientConnection.close());
    client = new Client({ connection: clientConnection, namespace: configured.namespace });
    uiUrl = process.env.TEMPORAL_UI_URL ?? `http://localhost:${UI_PORT}`;
  } else {
    mkdirSync(resolve('.temporal', 'dev-server'), { recursive: true });
    console.log(`Starting the Temporal dev server on localhost:${DEV_PORT} (state in ${STATE_FILE}) …`);
    let env: TestWorkflowEnvironment;
    try {
      env = await startDevServer({ port: DEV_PORT, uiPort: UI_PORT, dbFilename: STATE_FILE });
    } catch (err) {
      console.error(`Could not start the Temporal dev server: ${(err as Error).message}`);
      console.error(`Is something else listening on port ${DEV_PORT} or ${UI_PORT}? Set TEMPORAL_ADDRESS to use it instead.`);
      process.exit(1);
    }
    stops.push(() => env.teardown());
    client = env.client;
    connection = env.nativeConnection;
    uiUrl = `http://localhost:${UI_PORT}`;
  }

  const worker: Worker = await createWorker({ connection, namespace: configured.namespace });
  const running = worker.run();
  stops.push(async () => {
    worker.shutdown();
    await running;
  });

  const workflowId = `rollout:${DEMO.flagKey}:demo:${Date.now()}`;
  const handle = await startSkeletonRollout(client, DEMO, { workflowId });
  const link = `${uiUrl}/namespaces/${configured.namespace}/workflows/${encodeURIComponent(workflowId)}`;
  console.log(`Started rollout ${workflowId}`);
  console.log(`Temporal UI: ${link}`);
  console.log(`Flag file:   ${DEFAULT_FLAG_FILE}`);

  // Play the approver: approve each step once the workflow waits for it.
  const approved = new Set<string>();
  const poll = setInterval(() => {
    void skeletonStatus(handle)
      .then(async (status) => {
        if (status.waitingForApproval && status.step && !approved.has(status.step)) {
          approved.add(status.step);
          console.log(`  ${status.step} at ${status.percent}%: minimum duration passed — approving as release-manager`);
          await approveStep(handle, status.step, 'release-manager@demo');
        }
      })
      .catch(() => undefined);
  }, 500);

  const result = await skeletonResult(handle);
  clearInterval(poll);
  console.log(`Rollout ${result.outcome}: final traffic ${result.finalPercent}% after steps ${result.stepsEntered.join(' → ')}`);
  console.log(`History: ${link}`);
  if (process.argv.includes('--exit') || process.env.CI) {
    await stop(0);
    return;
  }
  console.log('The dev server and UI stay up to browse the history; press Ctrl-C to stop everything.');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
