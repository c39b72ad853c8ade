/**
 * The histories of a rollout: every run of its continue-as-new chain, from the first run to the latest, as the
 * Temporal server holds them.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

/** One run of the chain and its history. */
export interface RunHistory {
  runId: string;
  history: temporal.api.history.v1.IHistory;
}

/**
 * Fetches the history of every run of `workflowId`: finds the chain's first run through describe (`firstRunId`),
 * or starts at `firstRunId` when the caller knows it, then follows each run's continued-as-new event to the next. A still-running last run gives its history so far.
 * An unknown workflow id rejects with WorkflowNotFoundError.
 */
export async function fetchHistoryChain(client: Client, workflowId: string, firstRunId?: string): Promise<RunHistory[]> {
  if (!firstRunId) {
    const latest = await client.workflow.getHandle(workflowId).describe();
    firstRunId = latest.raw.workflowExecutionInfo?.firstRunId || latest.runId;
  }
  const runs: RunHistory[] = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.push({ runId, history });
    runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId || undefined;
  }
  return runs;
}
