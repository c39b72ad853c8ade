/**
 * Typed helpers over the Temporal client, built on the workflows' message definitions. The CLI, the HTTP API,
 * `npm start` and tests talk to rollouts only through these.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import {
  abortSignal,
  approveStepSignal,
  skeletonStatusQuery,
  type SkeletonRolloutInput,
  type SkeletonRolloutResult,
  type SkeletonStatus,
} from './workflows/skeleton-rollout';
import { canaryPhaseKey, canaryPlanIdKey, canaryStatusKey, canaryTrafficPercentKey } from './workflows/search-attributes';
import { DEFAULT_TASK_QUEUE } from './worker';

/** Where a Temporal server is, as far as environment variables and envconfig profiles say. */
export interface ConfiguredServer {
  address: string;
  namespace: string;
  /** True when TEMPORAL_ADDRESS, a profile or a config file named the server explicitly. */
  explicit: boolean;
}

/**
 * Reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and TOML profiles
 * (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) through @temporalio/envconfig.
 */
export function configuredServer(env: NodeJS.ProcessEnv = process.env): ConfiguredServer & {
  connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
} {
  const config = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const explicit = Boolean(env.TEMPORAL_ADDRESS || env.TEMPORAL_PROFILE || env.TEMPORAL_CONFIG_FILE || config.connectionOptions.address);
  return {
    address: config.connectionOptions.address ?? 'localhost:7233',
    namespace: config.namespace ?? 'default',
    explicit,
    connectionOptions: config.connectionOptions,
  };
}

/** Connects a client using envconfig settings. */
export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<Client> {
  const server = configuredServer(env);
  const connection = await Connection.connect({ ...server.connectionOptions, address: server.address });
  return new Client({ connection, namespace: server.namespace });
}

/** The workflow id of a rollout of `flagKey` in `environment`: one rollout per flag and environment at a time. */
export function rolloutWorkflowId(flagKey: string, environment: string): string {
  return `rollout:${flagKey}:${environment}`;
}

/** Starts the walking-skeleton rollout. */
export async function startSkeletonRollout(
  client: Client,
  input: SkeletonRolloutInput,
  options: { workflowId?: string; taskQueue?: string; environment?: string } = {},
): Promise<WorkflowHandle> {
  return client.workflow.start('skeletonRollout', {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: options.workflowId ?? rolloutWorkflowId(input.flagKey, options.environment ?? 'demo'),
    args: [input],
    typedSearchAttributes: [
      { key: canaryPlanIdKey, value: input.planId },
      { key: canaryStatusKey, value: 'starting' },
      { key: canaryPhaseKey, value: 'none' },
      { key: canaryTrafficPercentKey, value: 0 },
    ],
  });
}

export async function approveStep(handle: WorkflowHandle, step: string, by: string): Promise<void> {
  await handle.signal(approveStepSignal, { step, by });
}

export async function abortRollout(handle: WorkflowHandle, reason: string, by: string): Promise<void> {
  await handle.signal(abortSignal, { reason, by });
}

export async function skeletonStatus(handle: WorkflowHandle): Promise<SkeletonStatus> {
  return handle.query(skeletonStatusQuery);
}

export async function skeletonResult(handle: WorkflowHandle): Promise<SkeletonRolloutResult> {
  return (await handle.result()) as SkeletonRolloutResult;
}
