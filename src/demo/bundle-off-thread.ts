/**
 * Bundles the workflow code in a worker thread. Bundling takes about 2 s of mostly synchronous webpack work; on the
 * main thread it blocks the event loop for up to half a second at a time, and a Ctrl-C that lands then is not seen in
 * time by tsx's signal relay, which kills npm start outright (leaving its dev server and rollout behind). Off the main
 * thread, npm start answers a Ctrl-C within milliseconds while the worker is being prepared.
 */
import { Worker as Thread } from 'node:worker_threads';
import { workflowCodeOptions } from '../worker';

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { bundleWorkflowCode } = require(workerData.bundler);
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
bundleWorkflowCode({ ...workerData.options, logger: quiet }).then(
  (bundle) => parentPort.postMessage({ code: bundle.code }),
  (err) => parentPort.postMessage({ error: String((err && err.stack) || err) }),
);
`;

/** The workflow bundle as `Worker.create` takes it (`workflowBundle: { code }`), built in a worker thread. */
export async function bundleWorkflowsOffThread(): Promise<{ code: string }> {
  const thread = new Thread(THREAD_SOURCE, {
    eval: true,
    workerData: { bundler: require.resolve('@temporalio/worker/lib/workflow/bundler'), options: workflowCodeOptions() },
  });
  try {
    return await new Promise<{ code: string }>((resolveBundle, reject) => {
      thread.once('message', (message: { code?: string; error?: string }) =>
        message.code !== undefined ? resolveBundle({ code: message.code }) : reject(new Error(`bundling the workflow code failed: ${message.error}`)),
      );
      thread.once('error', reject);
      thread.once('exit', (code) => reject(new Error(`the bundling thread exited (code ${code}) without a bundle`)));
    });
  } finally {
    await thread.terminate();
  }
}
