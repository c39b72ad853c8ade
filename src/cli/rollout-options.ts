/**
 * What the commands that act on one rollout share: who is acting (`--by`), reaching the rollout and turning what
 * can go wrong there into a message and an exit code, and printing what an accepted message caused.
 */
import { userInfo } from 'node:os';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { configuredServer, getRollout, RolloutRefused, rolloutResult, rolloutStatus } from '../client';
import type { RolloutResult } from '../domain/types';
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

/**
 * Runs `work` against the rollout `rolloutId` and turns the expected failures into one line on stderr and exit 1:
 * a refusal prints the rollout's own reason (plus `hint`, when given, for refusals it matches); a rollout that does
 * not exist says where it was looked for and how to list rollouts. Anything else propagates to `main`.
 */
export async function withRollout(
  cli: CliContext,
  rolloutId: string,
  work: (handle: WorkflowHandle, client: Client) => Promise<void>,
  hint?: (reason: string) => string | undefined,
): Promise<void> {
  try {
    const client = await cli.client();
    await work(getRollout(client, rolloutId), client);
  } catch (err) {
    if (err instanceof RolloutRefused) {
      const extra = hint?.(err.message);
      cli.err(`refused by ${rolloutId}: ${err.message}`);
      if (extra) cli.err(extra);
      cli.fail(ExitCode.Failed);
      return;
    }
    if (err instanceof WorkflowNotFoundError || isNotFound(err)) {
      cli.err(notFoundMessage(rolloutId, cli.env));
      cli.fail(ExitCode.Failed);
      return;
    }
    throw err;
  }
}

/** The message for a rollout id the server does not know. */
export function notFoundMessage(rolloutId: string, env: NodeJS.ProcessEnv): string {
  const server = configuredServer(env);
  return `no rollout "${rolloutId}" on ${server.address} (namespace ${server.namespace}); \`canary list\` shows the rollouts there`;
}

// A query to an unknown workflow fails with the gRPC status NOT_FOUND (5) rather than WorkflowNotFoundError.
function isNotFound(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return [err, cause].some((e) => typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 5);
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
  | { running: false; executionStatus: string; result?: RolloutResult; view?: undefined };

/**
 * Reads the rollout behind `handle`. A running rollout answers the status query; an ended one gives its result
 * without a query (no worker needs to run). A workflow that ended without a result (terminated, failed, timed out)
 * has `result` undefined and says how it ended in `executionStatus`.
 */
export async function readRollout(handle: WorkflowHandle): Promise<RolloutSnapshot> {
  const description = await handle.describe();
  const executionStatus = description.status.name;
  if (executionStatus === 'RUNNING') {
    try {
      return { running: true, view: await rolloutStatus(handle) };
    } catch (err) {
      // It may have ended between the two calls (and its worker gone): read it again as ended.
      if ((await handle.describe()).status.name === 'RUNNING') throw err;
      return readRollout(handle);
    }
  }
  if (executionStatus !== 'COMPLETED') return { running: false, executionStatus };
  return { running: false, executionStatus, result: await rolloutResult(handle) };
}

/** The lines for an ended rollout: its outcome, final percent and phase, or how its workflow ended without one. */
export function renderEnded(rolloutId: string, snapshot: Extract<RolloutSnapshot, { running: false }>): string[] {
  const result = snapshot.result;
  if (!result) return [`${rolloutId} — workflow ${snapshot.executionStatus.toLowerCase()} without a rollout result (terminated or failed outside canary)`];
  const verified = result.rollbackVerified === undefined ? '' : `; rollback ${result.rollbackVerified ? 'verified' : 'NOT verified'}`;
  return [`${rolloutId} — ${result.outcome} at ${result.finalPercent}% in phase ${result.phase}${verified}`];
}

/** Exit code for an ended rollout: 0 only for a completed one. */
export function exitCodeFor(snapshot: Extract<RolloutSnapshot, { running: false }>): ExitCode {
  return snapshot.result?.outcome === 'completed' ? ExitCode.Ok : ExitCode.Failed;
}
