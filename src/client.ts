/**
 * Typed helpers over the Temporal client, built on the workflows' message definitions. The CLI, the HTTP API,
 * `npm start` and tests talk to rollouts only through these.
 */
import {
  Client,
  Connection,
  isGrpcDeadlineError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { type google, temporal } from '@temporalio/proto';
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

/** How long {@link connectClient} waits for a server to answer unless told otherwise: an unreachable one fails fast. */
export const CONNECT_TIMEOUT_MS = 4_000;

/**
 * Connects a client using envconfig settings and checks that the server answers (the SDK's `getSystemInfo`) within
 * `connectTimeoutMs` (default {@link CONNECT_TIMEOUT_MS}); a server that does not answer in time, refuses the
 * connection or fails the TLS handshake rejects then, not after the SDK's 10 s default.
 */
export async function connectClient(env: NodeJS.ProcessEnv = process.env, options: { connectTimeoutMs?: number } = {}): Promise<Client> {
  const server = configuredServer(env);
  const connection = await Connection.connect({
    ...server.connectionOptions,
    address: server.address,
    connectTimeout: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
  });
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
    // What the Temporal UI shows at the top of the rollout: one line, then the plan in Markdown.
    staticSummary: rolloutSummary(plan),
    staticDetails: rolloutDetails(plan),
  });
}

/** "Rollout of checkout-v2 in prod: 10% → 50% → 100% (plan demo)": the one line the Temporal UI shows as its summary. */
export function rolloutSummary(plan: Plan): string {
  return `Rollout of ${plan.target.flags.join(', ')} in ${plan.target.environment}: ${plan.phases.map((p) => `${p.percent}%`).join(' → ')} (plan ${plan.id})`;
}

/** The plan in Markdown for the Temporal UI's details: name, owner, target, and each phase with what it waits for. */
export function rolloutDetails(plan: Plan): string {
  const phase = (p: Plan['phases'][number]) => {
    const parts = [`${p.percent}%`, p.minDuration ? `at least ${p.minDuration}` : undefined];
    const gates = (p.gates ?? []).map((g) => g.name);
    if (gates.length) parts.push(`gates ${gates.join(', ')}`);
    const approvals = (p.approvals ?? []).map((a) => `${a.role}${a.quorum > 1 ? ` ×${a.quorum}` : ''}`);
    if (approvals.length) parts.push(`approval by ${approvals.join(', ')}`);
    return `- **${p.name}**: ${parts.filter(Boolean).join('; ')}`;
  };
  return [
    `**${plan.name}** (plan \`${plan.id}\`${plan.owner ? `, owner ${plan.owner}` : ''})`,
    `Target: flags ${plan.target.flags.map((f) => `\`${f}\``).join(', ')} via provider ${plan.target.provider} in ${plan.target.environment}`,
    ...(plan.gates.length ? [`Gates in every phase: ${plan.gates.map((g) => g.name).join(', ')}`] : []),
    ...(plan.triggers.length ? [`Triggers: ${plan.triggers.map((t) => `${t.name} → ${t.action}`).join(', ')}`] : []),
    'Phases:',
    ...plan.phases.map(phase),
  ]
    .join('\n')
    .slice(0, 20_000);
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
  /** The latest run of the continue-as-new chain. */
  runId: string;
  /** The chain's first run: the run the rollout was started as. */
  firstRunId: string;
  /** Temporal's execution status of the latest run: RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, CONTINUED_AS_NEW. */
  executionStatus: string;
  /**
   * The rollout's own status as it last published it (search attribute CanaryStatus): pending, running, holding,
   * completed, rolled_back … A workflow terminated from outside keeps the status it had (`running`): read it beside
   * {@link RolloutSummary.executionStatus} (a filter on a live status leaves such a workflow out).
   */
  status?: string;
  planId?: string;
  phase?: string;
  percent?: number;
  /** When the rollout started: the start of the chain's first run, not of the latest run. */
  startTime: Date;
  /** When the latest run started (after a continue-as-new, later than {@link RolloutSummary.startTime}). */
  runStartTime: Date;
  closeTime?: Date;
}

/** Lists at most this many first runs at once when looking up where each chain started. */
const DESCRIBE_CONCURRENCY = 8;

/**
 * The rollout statuses a rollout ends in: its workflow has closed once it publishes one of these. Every other status
 * (pending, waiting, running, holding, paused, rolling-back, stabilizing) describes a live rollout.
 */
export const ENDED_ROLLOUT_STATUSES: readonly string[] = ['completed', 'rolled_back', 'aborted', 'killed'];

/**
 * Rollouts on the server, newest first, through the visibility API. Only rollout workflows (type rolloutWorkflow) are
 * listed — never the flag locks (`canary-flag-lock:…`). `status` filters on the rollout's own status (CanaryStatus);
 * a status of a live rollout (running, holding, paused … — anything but {@link ENDED_ROLLOUT_STATUSES}) also needs
 * the workflow to be running, since a workflow terminated, failed or timed out from outside keeps the status it last
 * published: it is listed without a filter (WORKFLOW terminated …), never as running. `running` limits to open
 * workflows. Continued-as-new runs are left out: each rollout appears once, with the execution status of its latest
 * run and the start time of its first run (one describe per rollout, and one more for a rollout that continued as
 * new, since visibility records carry no first run id).
 */
export async function listRollouts(
  client: Client,
  options: { status?: string; running?: boolean; limit?: number } = {},
): Promise<RolloutSummary[]> {
  const clauses = [`WorkflowType = 'rolloutWorkflow'`, `ExecutionStatus != 'ContinuedAsNew'`];
  if (options.status) clauses.push(`CanaryStatus = '${options.status.replace(/'/g, '')}'`);
  const live = options.status !== undefined && options.status !== '' && !ENDED_ROLLOUT_STATUSES.includes(options.status);
  if (options.running || live) clauses.push(`ExecutionStatus = 'Running'`);
  const out: RolloutSummary[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    const attrs = wf.typedSearchAttributes;
    out.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      firstRunId: wf.runId,
      executionStatus: wf.status.name,
      status: attrs.get(canaryStatusKey),
      planId: attrs.get(canaryPlanIdKey),
      phase: attrs.get(canaryPhaseKey),
      percent: attrs.get(canaryTrafficPercentKey),
      startTime: wf.startTime,
      runStartTime: wf.startTime,
      closeTime: wf.closeTime,
    });
    if (out.length >= (options.limit ?? 100)) break;
  }
  for (let i = 0; i < out.length; i += DESCRIBE_CONCURRENCY) {
    await Promise.all(out.slice(i, i + DESCRIBE_CONCURRENCY).map((summary) => withChainStart(client, summary)));
  }
  return out;
}

/** Fills in the first run id and start of `summary`'s chain; a run that cannot be described keeps its own. */
async function withChainStart(client: Client, summary: RolloutSummary): Promise<void> {
  try {
    const latest = await client.workflow.getHandle(summary.workflowId, summary.runId).describe();
    const firstRunId = latest.raw.workflowExecutionInfo?.firstRunId || summary.runId;
    summary.firstRunId = firstRunId;
    if (firstRunId !== summary.runId) summary.startTime = (await client.workflow.getHandle(summary.workflowId, firstRunId).describe()).startTime;
  } catch {
    // Retention may have removed the first run: the latest run's start is the best the server still knows.
  }
}

/** A rollout's workflow as the server describes it — no worker is asked. */
export interface RolloutExecution {
  workflowId: string;
  /** The latest run of the continue-as-new chain. */
  runId: string;
  /** RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, CONTINUED_AS_NEW. */
  executionStatus: string;
  /** The task queue the rollout's workflow tasks go to: where a worker must poll for it to answer. */
  taskQueue: string;
  closeTime?: Date;
  /** The rollout's status as it last published it (CanaryStatus). */
  status?: string;
  description: WorkflowExecutionDescription;
}

/** Describes the rollout behind `handle` (its latest run). An unknown id rejects with WorkflowNotFoundError. */
export async function describeRollout(handle: WorkflowHandle): Promise<RolloutExecution> {
  const description = await handle.describe();
  return {
    workflowId: description.workflowId,
    runId: description.runId,
    executionStatus: description.status.name,
    taskQueue: description.taskQueue,
    closeTime: description.closeTime,
    status: description.typedSearchAttributes.get(canaryStatusKey),
    description,
  };
}

/**
 * How an ended rollout ended: the outcome it returned (completed, rolled_back, aborted, killed) when its workflow
 * completed, otherwise how the workflow ended (terminated, failed, timed_out, cancelled). Reads the workflow result
 * from history; no worker is asked.
 */
export async function endedOutcome(handle: WorkflowHandle, execution: RolloutExecution): Promise<{ outcome: string; result?: RolloutResult }> {
  if (execution.executionStatus !== 'COMPLETED') return { outcome: execution.executionStatus.toLowerCase() };
  const result = (await handle.result()) as RolloutResult;
  return { outcome: result.outcome, result };
}

/** One worker process polling a task queue, as the server last saw it. */
export interface TaskQueuePoller {
  identity: string;
  lastAccessTime?: Date;
}

/**
 * A worker polls continually: each long poll lasts at most about a minute (the server's long-poll expiry), then the
 * next begins, so a live worker has polled within the last minute. The server lists a stopped worker for minutes
 * after its last poll; one whose last poll is older than this is taken as gone.
 */
export const POLLER_FRESH_MS = 75_000;

/** The workers that have polled `taskQueue` for workflow tasks, as the server lists them (for a few minutes after their last poll). */
export async function workflowTaskPollers(client: Client, taskQueue: string): Promise<TaskQueuePoller[]> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (response.pollers ?? []).map((p) => ({ identity: p.identity ?? '', lastAccessTime: timestampToDate(p.lastAccessTime) }));
}

function timestampToDate(ts: google.protobuf.ITimestamp | null | undefined): Date | undefined {
  if (!ts) return undefined;
  return new Date(Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}

/** No worker polls the task queue a rollout's workflow tasks go to: nothing would answer a query or an update. */
export class NoWorkerPolling extends Error {
  override name = 'NoWorkerPolling';
  constructor(
    readonly taskQueue: string,
    /** The most recent poll of a worker the server still lists, when there is one (a worker that stopped). */
    readonly lastPoll?: TaskQueuePoller,
  ) {
    super(`no worker is polling task queue ${taskQueue}${lastPoll?.lastAccessTime ? ` (the last, ${lastPoll.identity}, polled at ${lastPoll.lastAccessTime.toISOString()})` : ''}`);
  }
}

/**
 * Resolves when a worker has polled `taskQueue` within {@link POLLER_FRESH_MS}; rejects with {@link NoWorkerPolling}
 * otherwise — at once, instead of a query or update waiting for a worker that is not there.
 */
export async function requireWorker(client: Client, taskQueue: string, now: number = Date.now()): Promise<void> {
  const pollers = await workflowTaskPollers(client, taskQueue);
  const fresh = pollers.filter((p) => p.lastAccessTime === undefined || now - p.lastAccessTime.getTime() <= POLLER_FRESH_MS);
  if (fresh.length > 0) return;
  const last = pollers.reduce<TaskQueuePoller | undefined>((a, p) => (!a || (p.lastAccessTime?.getTime() ?? 0) > (a.lastAccessTime?.getTime() ?? 0) ? p : a), undefined);
  throw new NoWorkerPolling(taskQueue, last);
}

/** A query or update the rollout's worker did not answer within the deadline. */
export class RolloutDidNotAnswer extends Error {
  override name = 'RolloutDidNotAnswer';
  constructor(
    readonly taskQueue: string,
    readonly waitedMs: number,
    options?: ErrorOptions,
  ) {
    super(`no answer from a worker on task queue ${taskQueue} within ${Math.round(waitedMs / 100) / 10}s`, options);
  }
}

/**
 * Runs `fn` (queries, updates) with every gRPC call in it bounded by a deadline `ms` from now; a call that runs into
 * it rejects with {@link RolloutDidNotAnswer} naming `taskQueue`, other errors pass through.
 */
export async function withAnswerDeadline<T>(client: Client, taskQueue: string, ms: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await client.connection.withDeadline(Date.now() + ms, fn);
  } catch (err) {
    if (isGrpcDeadlineError(err) || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) throw new RolloutDidNotAnswer(taskQueue, ms, { cause: err });
    throw err;
  }
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

/** The plan a running rollout runs, as it was validated when it started (its `plan` query). */
export async function rolloutPlan(handle: WorkflowHandle): Promise<Plan> {
  return handle.query(messages.planQuery);
}

export async function rolloutResult(handle: WorkflowHandle): Promise<RolloutResult> {
  return (await handle.result()) as RolloutResult;
}
