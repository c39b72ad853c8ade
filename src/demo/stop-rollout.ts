/**
 * Stopping a demo rollout that nobody will finish: the one a Ctrl-C interrupts, and orphans an earlier `npm start`
 * left running in the persisted dev server. A rollback by the plan's owner is preferred — the rollout writes its flag
 * back to off and records who asked in its ops log — and terminate is the fallback when the rollback is refused or does
 * not settle in time (a terminated rollout's flag lock is released here, so the next rollout need not take it over).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { getRollout, operate, RolloutRefused, rolloutResult } from '../client';
import type { RolloutResult } from '../domain/types';
import { canaryPhaseKey, canaryPlanIdKey, canaryTrafficPercentKey } from '../workflows/search-attributes';

/** How a rollout was stopped. */
export type StopRolloutOutcome =
  | { how: 'rolled-back'; result: RolloutResult }
  | { how: 'terminated'; why: string }
  | { how: 'already-ended'; status: string };

export interface StopRolloutOptions {
  /** Who asks for the rollback: the plan's owner (a plan that grants no operator role is steered by its owner). */
  by: string | undefined;
  reason: string;
  /** How long the rollback may take to be accepted and settle before the rollout is terminated (default 10 s). */
  settleMs?: number;
  out?: (line: string) => void;
}

/**
 * Rolls the running rollout `workflowId` back as `by`, waits up to `settleMs` for it to end, and terminates it when the
 * rollback is refused, times out, or there is no owner to ask as. A rollout that is not running is left alone.
 */
export async function stopRollout(client: Client, workflowId: string, options: StopRolloutOptions): Promise<StopRolloutOutcome> {
  const out = options.out ?? ((line: string) => console.log(line));
  const handle = getRollout(client, workflowId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { how: 'already-ended', status: 'NOT_FOUND' };
    throw err;
  }
  if (status !== 'RUNNING') return { how: 'already-ended', status };

  let why: string;
  if (options.by) {
    const settleMs = options.settleMs ?? 10_000;
    const deadline = Date.now() + settleMs;
    const within = `within ${Math.round(settleMs / 100) / 10} s`;
    try {
      await withDeadline(operate(handle, { id: `npm-start-stop-${Date.now()}`, command: 'rollback', by: options.by, reason: options.reason }), deadline, `the rollback was not accepted ${within}`);
      const result = await withDeadline(rolloutResult(handle), deadline, `the rollback did not settle ${within}`);
      return { how: 'rolled-back', result };
    } catch (err) {
      why = err instanceof RolloutRefused ? `the rollback was refused: ${err.message}` : (err as Error).message;
    }
  } else {
    why = 'the plan names no owner to roll back as';
  }
  // The rollout may have ended meanwhile (the rollback settled just after the deadline): then there is nothing to do.
  const now = await handle.describe().then(
    (d) => d.status.name,
    () => 'UNKNOWN',
  );
  if (now !== 'RUNNING') return now === 'COMPLETED' ? { how: 'rolled-back', result: await rolloutResult(handle) } : { how: 'already-ended', status: now };
  out(`${why}; terminating ${workflowId}.`);
  await handle.terminate(`${options.reason} (${why})`);
  await releaseFlagLocksOf(client, workflowId);
  return { how: 'terminated', why };
}

/**
 * Rollouts of plan `planId` still running on task queue `taskQueue`: on the demo's own dev server, under its lock,
 * these can only be left over from an earlier `npm start` that did not stop them.
 */
export async function runningRolloutsOf(client: Client, planId: string, taskQueue: string): Promise<Array<{ workflowId: string; owner?: string; phase?: string; percent?: number }>> {
  const found: Array<{ workflowId: string; owner?: string; phase?: string; percent?: number }> = [];
  const query = `WorkflowType = 'rolloutWorkflow' AND ExecutionStatus = 'Running' AND ${canaryPlanIdKey.name} = '${planId.replace(/'/g, '')}' AND TaskQueue = '${taskQueue.replace(/'/g, '')}'`;
  for await (const wf of client.workflow.list({ query })) {
    found.push({
      workflowId: wf.workflowId,
      owner: typeof wf.memo?.owner === 'string' ? wf.memo.owner : undefined,
      phase: wf.typedSearchAttributes.get(canaryPhaseKey),
      percent: wf.typedSearchAttributes.get(canaryTrafficPercentKey),
    });
  }
  return found;
}

/** Signals release to every flag lock `holder` still holds (the holder's own release, as the lock expects). */
async function releaseFlagLocksOf(client: Client, holder: string): Promise<void> {
  const locks: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'flagLockWorkflow' AND ExecutionStatus = 'Running'` })) {
    if (wf.memo?.holder === holder) locks.push(wf.workflowId);
  }
  await Promise.all(locks.map((id) => client.workflow.getHandle(id).signal('release', { holder }).catch(() => undefined)));
}

function withDeadline<T>(work: Promise<T>, deadline: number, message: string): Promise<T> {
  // The losing promise may still reject later (when the connection closes): nothing waits for it.
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
