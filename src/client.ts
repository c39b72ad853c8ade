/**
 * Typed helpers over the Temporal client, built on the workflows' message definitions. The CLI, the HTTP API,
 * `npm start` and tests talk to rollouts only through these.
 */
import { Client, Connection, WorkflowUpdateFailedError, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { canaryPhaseKey, canaryPlanIdKey, canaryStatusKey, canaryTrafficPercentKey } from './workflows/search-attributes';
import { DEFAULT_TASK_QUEUE } from './worker';
import type { Plan } from './plan/schema';
import type { RolloutResult } from './domain/types';
import * as messages from './workflows/messages';
import type { rolloutWorkflow, RolloutWorkflowInput } from './workflows/rollout';

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

/**
 * Starts a plan-driven rollout. The workflow id is derived from the target (`rollout:<flag>:<environment>`), so a
 * second rollout of the same flag in the same environment is refused while one runs.
 */
export async function startRollout(
  client: Client,
  plan: Plan,
  options: { workflowId?: string; taskQueue?: string } & Pick<RolloutWorkflowInput, 'maxHistoryEvents' | 'localActivities'> = {},
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rolloutWorkflow>> {
  return client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: options.workflowId ?? rolloutWorkflowId(plan.target.flags.join('+'), plan.target.environment),
    args: [{ plan, maxHistoryEvents: options.maxHistoryEvents, localActivities: options.localActivities }],
    typedSearchAttributes: [
      { key: canaryPlanIdKey, value: plan.id },
      { key: canaryStatusKey, value: 'pending' },
      { key: canaryPhaseKey, value: 'before-start' },
      { key: canaryTrafficPercentKey, value: 0 },
    ],
    memo: {
      planId: plan.id,
      planName: plan.name,
      owner: plan.owner,
      phases: plan.phases.map((p) => ({ name: p.name, percent: p.percent, minDuration: p.minDuration })),
    },
  });
}

/** A message the rollout refused, with the rollout's reason ("cfo@x does not hold the role ceo"). */
export class RolloutRefused extends Error {
  override name = 'RolloutRefused';
}

async function update<I>(handle: WorkflowHandle, definition: UpdateDefinition<messages.MessageOutcome, [I]>, input: I): Promise<messages.MessageOutcome> {
  try {
    return await handle.executeUpdate(definition, { args: [input] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new RolloutRefused(err.cause?.message ?? err.message, { cause: err });
    throw err;
  }
}

/** Approves (validated: an unknown role, a non-member or the wrong phase is refused with the reason). */
export async function approve(handle: WorkflowHandle, input: messages.ApproveInput): Promise<messages.MessageOutcome> {
  return update(handle, messages.approveUpdate, input);
}

export async function reject(handle: WorkflowHandle, input: messages.ApproveInput): Promise<messages.MessageOutcome> {
  return update(handle, messages.rejectUpdate, input);
}

export async function consumeToken(handle: WorkflowHandle, input: messages.ConsumeTokenInput): Promise<messages.MessageOutcome> {
  return update(handle, messages.consumeTokenUpdate, input);
}

export async function operate(handle: WorkflowHandle, input: messages.OperatorInput): Promise<messages.MessageOutcome> {
  return update(handle, messages.operatorUpdate, input);
}

export async function attest(handle: WorkflowHandle, input: messages.AttestInput): Promise<messages.MessageOutcome> {
  return update(handle, messages.attestUpdate, input);
}

/** A running or finished rollout by workflow id (the latest run of the continue-as-new chain). */
export function getRollout(client: Client, workflowId: string): WorkflowHandle<typeof rolloutWorkflow> {
  return client.workflow.getHandle<typeof rolloutWorkflow>(workflowId);
}

/** One line of `listRollouts`: what the search attributes and the execution info say, without querying the worker. */
export interface RolloutSummary {
  workflowId: string;
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, CONTINUED_AS_NEW. */
  executionStatus: string;
  /** The rollout's own status (search attribute CanaryStatus): pending, running, holding, completed, rolled_back … */
  status?: string;
  planId?: string;
  phase?: string;
  percent?: number;
  startTime: Date;
  closeTime?: Date;
}

/**
 * Rollouts on the server, newest first, through the visibility API. `status` filters on the rollout's own status
 * (CanaryStatus); `running` limits to open workflows. Continued-as-new runs are left out: each rollout appears once.
 */
export async function listRollouts(
  client: Client,
  options: { status?: string; running?: boolean; limit?: number } = {},
): Promise<RolloutSummary[]> {
  const clauses = [`WorkflowType = 'rolloutWorkflow'`, `ExecutionStatus != 'ContinuedAsNew'`];
  if (options.status) clauses.push(`CanaryStatus = '${options.status.replace(/'/g, '')}'`);
  if (options.running) clauses.push(`ExecutionStatus = 'Running'`);
  const out: RolloutSummary[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    const attrs = wf.typedSearchAttributes;
    out.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      executionStatus: wf.status.name,
      status: attrs.get(canaryStatusKey),
      planId: attrs.get(canaryPlanIdKey),
      phase: attrs.get(canaryPhaseKey),
      percent: attrs.get(canaryTrafficPercentKey),
      startTime: wf.startTime,
      closeTime: wf.closeTime,
    });
    if (out.length >= (options.limit ?? 100)) break;
  }
  return out;
}

/**
 * Every decision and the full ops log: the workflow's result when it has ended, otherwise the `result` query of the
 * running rollout.
 */
export async function rolloutRecord(handle: WorkflowHandle): Promise<{ running: boolean; result: RolloutResult }> {
  const description = await handle.describe();
  if (description.status.name === 'RUNNING') return { running: true, result: await handle.query(messages.resultQuery) };
  return { running: false, result: (await handle.result()) as RolloutResult };
}

export async function rolloutStatus(handle: WorkflowHandle): Promise<messages.RolloutStatusView> {
  return handle.query(messages.statusQuery);
}

export async function rolloutResult(handle: WorkflowHandle): Promise<RolloutResult> {
  return (await handle.result()) as RolloutResult;
}
