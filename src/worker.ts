/**
 * The one composition root: builds providers → activities → Worker. Everything that runs rollouts (npm start, the
 * `npm run worker` process, tests) creates its worker here, so the wiring exists once.
 */
import { resolve } from 'node:path';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { Context, log } from '@temporalio/activity';
import { createActivities, type ActivityDeps } from './activities';
import { createRolloutActivities, type RolloutActivityDeps } from './activities/rollout-activities';
import { FileConfigStore } from './providers/config/file-config-store';
import { FlagdFileStore } from './providers/flags/flagd-file-store';
import { ScenarioMetricSource } from './providers/metrics/scenario-source';
import type { Notifier } from './providers/notify/notifier';
import type { Scenario } from './simulate/scenario';

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
  /** Providers of the plan-driven rollout; defaults from {@link createRolloutDeps}. */
  rolloutDeps?: RolloutActivityDeps;
  /** A prebuilt bundle (tests bundle once per run); otherwise the worker bundles src/workflows. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/** Builds the default providers from options. */
export function createDefaultDeps(options: { flagFile?: string } = {}): ActivityDeps {
  return { flags: new FlagdFileStore(options.flagFile ?? DEFAULT_FLAG_FILE) };
}

/** Where the embedded configuration store lives unless configured otherwise. */
export const DEFAULT_CONFIG_FILE = resolve('.canary', 'config.json');

/**
 * The default providers of plan-driven rollouts: flagd files as the plan names them, a JSON configuration store,
 * scenario metric sources when a scenario is given, and notifications written to the worker log.
 */
export function createRolloutDeps(
  options: {
    configFile?: string;
    /** A scenario for `scenario` metric sources, or one per rollout (by workflow id). */
    scenario?: Scenario | ((workflowId: string) => Scenario | undefined);
    flagFileRoot?: string;
  } = {},
): RolloutActivityDeps {
  const scenarioFor = (): Scenario | undefined => {
    const scenario = options.scenario;
    return typeof scenario === 'function' ? scenario(Context.current().info.workflowExecution?.workflowId ?? '') : scenario;
  };
  const logNotifier: Notifier = {
    send: async (n) => log.info(`notify ${n.channel}: ${n.message}`, { rolloutId: n.rolloutId, event: n.event }),
  };
  return {
    flagStore: (name, config) => {
      if (config.type !== 'flagd-file') throw new Error(`flag provider ${name} of type ${config.type} is not available on this worker`);
      return new FlagdFileStore(resolve(options.flagFileRoot ?? '.', config.path));
    },
    metricSource: (_name, config) => {
      const scenario = config.type === 'scenario' ? scenarioFor() : undefined;
      return scenario ? new ScenarioMetricSource(scenario) : undefined;
    },
    config: new FileConfigStore(options.configFile ?? DEFAULT_CONFIG_FILE),
    notifier: () => logNotifier,
  };
}

/** Creates a worker for rollout workflows and their activities. */
export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  const deps = options.deps ?? createDefaultDeps({ flagFile: options.flagFile });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    activities: { ...createActivities(deps), ...createRolloutActivities(options.rolloutDeps ?? createRolloutDeps()) },
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('./workflows') }),
  });
}
