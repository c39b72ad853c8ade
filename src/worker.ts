/**
 * The one composition root: builds providers → activities → Worker. Everything that runs rollouts (npm start, the
 * `npm run worker` process, tests) creates its worker here, so the wiring exists once.
 */
import { resolve } from 'node:path';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { Context, log } from '@temporalio/activity';
import { createRolloutActivities, type RolloutActivityDeps } from './activities/rollout-activities';
import { FileConfigStore } from './providers/config/file-config-store';
import { ScenarioMetricSource } from './providers/metrics/scenario-source';
import type { ApproverKeys } from './providers/identity/approval-signature';
import { createFlagStore, flagStoreIdentity } from './providers/flags/create-flag-store';
import { createMetricSource } from './providers/metrics/create-metric-source';
import { createNotifier } from './providers/notify/create-notifier';
import type { Scenario } from './simulate/scenario';
import { scenarioCheckOutcome, scenarioTaskOutcome } from './simulate/simulator';

/** The task queue rollouts run on unless configured otherwise. */
export const DEFAULT_TASK_QUEUE = 'canary-rollouts';

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** Providers of the plan-driven rollout; defaults from {@link createRolloutDeps}. */
  rolloutDeps?: RolloutActivityDeps;
  /** A prebuilt bundle (tests bundle once per run); otherwise the worker bundles src/workflows. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Any other worker settings (tests on the time-skipping server turn the sticky workflow cache off). */
  workerOptions?: Partial<Omit<WorkerOptions, 'connection' | 'namespace' | 'taskQueue' | 'activities' | 'workflowBundle' | 'workflowsPath'>>;
}

/** Where the embedded configuration store lives unless configured otherwise. */
export const DEFAULT_CONFIG_FILE = resolve('.canary', 'config.json');

/**
 * The default providers of plan-driven rollouts: flagd files as the plan names them, a JSON configuration store,
 * Prometheus and scrape metric sources as the plan names them (scenario sources when a scenario is given), and the
 * plan's notification channels (`log` writes to the worker log).
 */
export function createRolloutDeps(
  options: {
    configFile?: string;
    /** A scenario for `scenario` metric sources, or one per rollout (by workflow id). */
    scenario?: Scenario | ((workflowId: string) => Scenario | undefined);
    flagFileRoot?: string;
    /** Approvers' public keys; defaults to the plan's key references (see approval-signature.ts). */
    approverKeys?: ApproverKeys;
    /** Where notifications go; defaults to the plan's channels (Slack, PagerDuty, webhooks, the worker log). */
    notifier?: RolloutActivityDeps['notifier'];
  } = {},
): RolloutActivityDeps {
  const scenarioFor = (): Scenario | undefined => {
    const scenario = options.scenario;
    return typeof scenario === 'function' ? scenario(Context.current().info.workflowExecution?.workflowId ?? '') : scenario;
  };
  return {
    flagStore: (name, config) => createFlagStore(name, config, { root: options.flagFileRoot }),
    flagStoreIdentity: (_name, config) => flagStoreIdentity(config, { root: options.flagFileRoot }),
    metricSource: (name, config) => {
      if (config.type !== 'scenario') return createMetricSource(name, config);
      const scenario = scenarioFor();
      return scenario ? new ScenarioMetricSource(scenario) : undefined;
    },
    config: new FileConfigStore(options.configFile ?? DEFAULT_CONFIG_FILE),
    approverKeys: options.approverKeys,
    // With a scenario, command and http tasks and checks are answered from it, exactly as the simulator does.
    outcomes: options.scenario
      ? {
          task: (name) => {
            const scenario = scenarioFor();
            return scenario && scenarioTaskOutcome(scenario, name);
          },
          check: (key) => {
            const scenario = scenarioFor();
            return scenario && scenarioCheckOutcome(scenario, key);
          },
        }
      : undefined,
    notifier: options.notifier ?? ((name, config) => createNotifier(name, config, process.env, { log: (line) => log.info(line) })),
  };
}

/**
 * Where the workflow code and its payload converter live: what `bundleWorkflowCode` and a worker without a prebuilt
 * bundle need. The converter turns undecodable message payloads into values the handlers refuse (payload-converter.ts).
 */
export function workflowCodeOptions(): { workflowsPath: string; payloadConverterPath: string } {
  return { workflowsPath: require.resolve('./workflows'), payloadConverterPath: require.resolve('./workflows/payload-converter') };
}

/** Creates a worker for rollout workflows and their activities. */
export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    // A worker that dies holds its rollouts' next workflow task on its sticky queue until this runs out; the SDK's 10 s
    // default would sit between a breach and the decision. Another worker picks the task up after 3 s.
    stickyQueueScheduleToStartTimeout: '3s',
    ...options.workerOptions,
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    activities: createRolloutActivities(options.rolloutDeps ?? createRolloutDeps()),
    dataConverter: { payloadConverterPath: workflowCodeOptions().payloadConverterPath },
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: workflowCodeOptions().workflowsPath }),
  });
}
