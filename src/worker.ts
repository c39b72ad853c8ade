/**
 * The one composition root: builds providers → activities → Worker. Everything that runs rollouts (npm start, the
 * `npm run worker` process, tests) creates its worker here, so the wiring exists once.
 */
import { resolve } from 'node:path';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { FlagdFileStore } from './providers/flags/flagd-file-store';

/** The task queue rollouts run on unless configured otherwise. */
export const DEFAULT_TASK_QUEUE = 'canary-rollouts';

/** Where the embedded flagd flag file lives unless configured otherwise. */
export const DEFAULT_FLAG_FILE = resolve('.canary', 'flags.json');

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** Providers; defaults to the flagd file store at `flagFile`. */
  deps?: ActivityDeps;
  flagFile?: string;
  /** A prebuilt bundle (tests bundle once per run); otherwise the worker bundles src/workflows. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/** Builds the default providers from options. */
export function createDefaultDeps(options: { flagFile?: string } = {}): ActivityDeps {
  return { flags: new FlagdFileStore(options.flagFile ?? DEFAULT_FLAG_FILE) };
}

/** Creates a worker for rollout workflows and their activities. */
export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  const deps = options.deps ?? createDefaultDeps({ flagFile: options.flagFile });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    activities: createActivities(deps),
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('./workflows') }),
  });
}
