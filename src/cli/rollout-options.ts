/**
 * What the commands that act on one rollout share: who is acting (`--by`), reaching the rollout and turning what
 * can go wrong there into a message and an exit code, and printing what an accepted message caused.
 */
import { userInfo } from 'node:os';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  describeRollout,
  endedOutcome,
  getRollout,
  NoWorkerPolling,
  requireWorker,
  RolloutDidNotAnswer,
  RolloutRefused,
  rolloutPlan,
  rolloutResult,
  rolloutStatus,
  withAnswerDeadline,
  workflowTaskPollers,
  type RolloutExecution,
} from '../client';
import { DEFAULT_TASK_QUEUE } from '../worker';
import type { RolloutResult } from '../domain/types';
import { pendingApprovalRoles, pendingTokens } from '../domain/waits';
import type { Plan } from '../plan/schema';
import type { MessageOutcome, RolloutStatusView } from '../workflows/messages';
import { renderOpsLogLine } from '../view/ops-log-line';
import { shellWord } from '../view/progress';
import { type CliContext, ExitCode } from './context';

/**
 * Who is acting: `--by` when given, then the environment variable CANARY_USER, then the operating-system user name.
 * The rollout checks the identity against the plan's role members; this only chooses what is sent.
 */
export function actingIdentity(by: string | undefined, env: NodeJS.ProcessEnv): string {
  if (by) return by;
  if (env.CANARY_USER) return env.CANARY_USER;
  try {
    return userInfo().username;
  } catch {
    // No user database entry (some containers): the rollout will refuse "unknown", which says what to set.
    return 'unknown';
  }
}

/** A message for a rollout that has ended: nothing can be sent to it any more. */
export class RolloutEnded extends Error {
  override name = 'RolloutEnded';
  constructor(
    readonly rolloutId: string,
    /** The rollout's outcome (completed, rolled_back, aborted, killed) or how its workflow ended (terminated …). */
    readonly outcome: string,
    readonly closeTime?: Date,
  ) {
    super(`${rolloutId} is ${finishedText(outcome, closeTime)}`);
  }
}

/** "finished (rolled_back at 2026-11-30T13:09:40Z)": how an ended rollout is named everywhere in the CLI. */
export function finishedText(outcome: string, closeTime?: Date): string {
  return `finished (${outcome}${closeTime ? ` at ${isoSeconds(closeTime)}` : ''})`;
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Runs `work` against the rollout `rolloutId` and turns the expected failures into one line on stderr and exit 1:
 * - a refusal prints the rollout's own reason (plus `hint`, when given, for refusals it matches);
 * - a rollout that does not exist says where it was looked for and how to list rollouts;
 * - a rollout that has ended says how and when ("finished (rolled_back at …)"), never "no rollout";
 * - no worker polling the rollout's task queue says so, with the server and how to start one, at once;
 * - a worker that polls but does not answer within the deadline says how long it waited and when it last polled.
 * Anything else propagates to `main`.
 */
export async function withRollout(
  cli: CliContext,
  rolloutId: string,
  work: (handle: WorkflowHandle, client: Client) => Promise<void>,
  hint?: (reason: string) => string | undefined,
): Promise<void> {
  const client = await cli.client();
  const handle = getRollout(client, rolloutId);
  try {
    await work(handle, client);
  } catch (err) {
    const message = await problemMessage(cli, client, handle, err, hint);
    if (message === undefined) throw err;
    message.forEach((line) => cli.err(line));
    cli.fail(ExitCode.Failed);
  }
}

/** The lines that explain `err`, or undefined for an error that is not one of the expected ones. */
async function problemMessage(
  cli: CliContext,
  client: Client,
  handle: WorkflowHandle,
  err: unknown,
  hint?: (reason: string) => string | undefined,
): Promise<string[] | undefined> {
  const rolloutId = handle.workflowId;
  if (err instanceof RolloutRefused) {
    const extra = hint?.(err.message);
    return [`refused by ${rolloutId}: ${err.message}`, ...(extra ? [extra] : [])];
  }
  if (err instanceof RolloutEnded) return [`${err.message}; nothing more can be sent to it — \`canary report ${rolloutId}\` shows what happened`];
  if (err instanceof NoWorkerPolling) return [noWorkerMessage(cli, err)];
  if (err instanceof RolloutDidNotAnswer) return [await noAnswerMessage(cli, client, rolloutId, err)];
  if (err instanceof WorkflowNotFoundError || isNotFound(err)) {
    // An update to a workflow that closed meanwhile fails as "not found" too: say it has finished when it has.
    const ended = await cli.withServerDeadline(client, () => describeRollout(handle)).catch(() => undefined);
    if (ended && ended.executionStatus !== 'RUNNING') {
      const { outcome } = await cli.withServerDeadline(client, () => endedOutcome(handle, ended));
      return problemMessage(cli, client, handle, new RolloutEnded(rolloutId, outcome, ended.closeTime), hint);
    }
    return [notFoundMessage(rolloutId, cli)];
  }
  return undefined;
}

/** The message for a rollout id the server does not know. */
export function notFoundMessage(rolloutId: string, cli: CliContext): string {
  const server = cli.server();
  return `no rollout "${rolloutId}" on ${server.address} (namespace ${server.namespace}); \`canary list\` shows the rollouts there`;
}

/** "no worker is polling task queue X on ADDRESS/NAMESPACE — start one with `canary worker`". */
export function noWorkerMessage(cli: CliContext, err: NoWorkerPolling): string {
  const last = err.lastPoll?.lastAccessTime ? ` (the last worker, ${err.lastPoll.identity}, polled at ${isoSeconds(err.lastPoll.lastAccessTime)})` : '';
  return `no worker is polling task queue ${err.taskQueue} on ${cli.where()}${last} — start one with \`${workerCommand(cli, err.taskQueue)}\``;
}

async function noAnswerMessage(cli: CliContext, client: Client, rolloutId: string, err: RolloutDidNotAnswer): Promise<string> {
  const pollers = await cli.withServerDeadline(client, () => workflowTaskPollers(client, err.taskQueue)).catch(() => []);
  const last = pollers.map((p) => p.lastAccessTime).filter((t): t is Date => t !== undefined).sort((a, b) => b.getTime() - a.getTime())[0];
  const seen = last ? `; a worker last polled task queue ${err.taskQueue} at ${isoSeconds(last)}` : '';
  return (
    `${rolloutId} did not answer within ${err.waitedMs / 1000}s on ${cli.where()}${seen}: if that worker has stopped, start one with ` +
    `\`${workerCommand(cli, err.taskQueue)}\`; if it runs, its log says what holds it up`
  );
}

/** `canary worker` with the task queue and the connection flags this command was given (never the API key). */
export function workerCommand(cli: CliContext, taskQueue: string): string {
  const words = ['canary', 'worker'];
  if (taskQueue !== DEFAULT_TASK_QUEUE) words.push('--task-queue', shellWord(taskQueue));
  for (const [flag, value] of cli.connectionFlagsForWorker()) words.push(flag, shellWord(value));
  return words.join(' ');
}

// A query to an unknown workflow fails with the gRPC status NOT_FOUND (5) rather than WorkflowNotFoundError.
function isNotFound(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return [err, cause].some((e) => typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 5);
}

/**
 * Describes the rollout and makes sure something will answer a message to it: rejects with {@link RolloutEnded} when
 * it has ended and with NoWorkerPolling when no worker polls its task queue — both at once, without waiting.
 */
export async function requireAnswering(cli: CliContext, client: Client, handle: WorkflowHandle): Promise<RolloutExecution> {
  const execution = await cli.withServerDeadline(client, () => describeRollout(handle));
  if (execution.executionStatus !== 'RUNNING') {
    const { outcome } = await cli.withServerDeadline(client, () => endedOutcome(handle, execution));
    throw new RolloutEnded(handle.workflowId, outcome, execution.closeTime);
  }
  await cli.withServerDeadline(client, () => requireWorker(client, execution.taskQueue));
  return execution;
}

/**
 * Sends one message (an update) to a running rollout: refuses at once when it has ended or no worker polls for it,
 * and waits at most {@link CliContext.updateTimeoutMs} for its answer.
 */
export async function sendToRollout<T>(cli: CliContext, client: Client, handle: WorkflowHandle, send: () => Promise<T>): Promise<T> {
  const execution = await requireAnswering(cli, client, handle);
  return withAnswerDeadline(client, execution.taskQueue, cli.updateTimeoutMs, send);
}

/**
 * Prints what an accepted message did: the ops-log lines it caused, then the rollout's status. With `json`, the
 * {@link MessageOutcome} as one JSON object.
 */
export function printAccepted(cli: CliContext, rolloutId: string, what: string, outcome: MessageOutcome, json: boolean | undefined): void {
  if (json) {
    cli.out(JSON.stringify({ rolloutId, ...outcome }));
    return;
  }
  cli.out(`${what}: accepted by ${rolloutId}, now ${outcome.status}`);
  for (const entry of outcome.log) cli.out(`  ${renderOpsLogLine(entry)}`);
}

/** The refusal hint for a role that needs a signature and got none. */
export function signatureHint(signed: boolean): (reason: string) => string | undefined {
  return (reason) =>
    !signed && /signature/.test(reason)
      ? 'this role signs its decisions: add --key <private JWK file> or --key-env <VAR holding the private JWK JSON>'
      : undefined;
}

/** `canary watch <id>` as a shell command, for "follow it with …" lines. */
export function watchCommand(rolloutId: string): string {
  return `canary watch ${shellWord(rolloutId)}`;
}

/** A rollout as the CLI finds it: running (answering the status query) or ended (its workflow result). */
export type RolloutSnapshot =
  | { running: true; view: RolloutStatusView }
  | { running: false; executionStatus: string; closeTime?: Date; result?: RolloutResult; view?: undefined };

/**
 * Reads the rollout behind `handle`. A running rollout answers the status query — after checking that a worker polls
 * its task queue (NoWorkerPolling at once otherwise) and within {@link CliContext.queryTimeoutMs}; an ended one gives
 * its result without a query (no worker needs to run). A workflow that ended without a result (terminated, failed,
 * timed out) has `result` undefined and says how it ended in `executionStatus`.
 */
export async function readRollout(cli: CliContext, client: Client, handle: WorkflowHandle): Promise<RolloutSnapshot> {
  const execution = await cli.withServerDeadline(client, () => describeRollout(handle));
  const executionStatus = execution.executionStatus;
  if (executionStatus === 'RUNNING') {
    try {
      await cli.withServerDeadline(client, () => requireWorker(client, execution.taskQueue));
      return { running: true, view: await withAnswerDeadline(client, execution.taskQueue, cli.queryTimeoutMs, () => rolloutStatus(handle)) };
    } catch (err) {
      // It may have ended between the two calls (and its worker gone): read it again as ended.
      if ((await cli.withServerDeadline(client, () => describeRollout(handle))).executionStatus === 'RUNNING') throw err;
      return readRollout(cli, client, handle);
    }
  }
  const closeTime = execution.closeTime;
  if (executionStatus !== 'COMPLETED') return { running: false, executionStatus, closeTime };
  return { running: false, executionStatus, closeTime, result: await cli.withServerDeadline(client, () => rolloutResult(handle)) };
}

/**
 * The plan of a running rollout when its progress frame prints a command to approve or to consume a token — the
 * frame needs it to add `--key` for a role that signs — and undefined otherwise, or when the worker does not answer
 * the `plan` query in time (the frame is then printed without `--key`, as before).
 */
export async function planForCommands(cli: CliContext, client: Client, handle: WorkflowHandle, view: RolloutStatusView): Promise<Plan | undefined> {
  const waits = view.waits ?? [];
  if (pendingApprovalRoles(waits).length === 0 && pendingTokens(waits).length === 0) return undefined;
  try {
    return await cli.withServerDeadline(client, () => rolloutPlan(handle), cli.queryTimeoutMs);
  } catch {
    return undefined;
  }
}

/** The lines for an ended rollout: its outcome, final percent and phase, or how its workflow ended without one. */
export function renderEnded(rolloutId: string, snapshot: Extract<RolloutSnapshot, { running: false }>): string[] {
  const result = snapshot.result;
  if (!result) return [`${rolloutId} — ${finishedText(snapshot.executionStatus.toLowerCase(), snapshot.closeTime)} without a rollout result (its workflow was ended outside canary)`];
  const verified = result.rollbackVerified === undefined ? '' : `; rollback ${result.rollbackVerified ? 'verified' : 'NOT verified'}`;
  return [`${rolloutId} — ${result.outcome} at ${result.finalPercent}% in phase ${result.phase}${verified}`];
}

/** Exit code for an ended rollout: 0 only for a completed one. */
export function exitCodeFor(snapshot: Extract<RolloutSnapshot, { running: false }>): ExitCode {
  return snapshot.result?.outcome === 'completed' ? ExitCode.Ok : ExitCode.Failed;
}
