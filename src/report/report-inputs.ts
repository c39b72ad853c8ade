/**
 * What the evidence report reads from the Temporal server besides the rollout's own record: the facts only the
 * workflow's history holds. Read-only; the one file of src/report that talks to Temporal (`canary report` calls it),
 * so that `buildEvidenceReport` stays a pure function of what is read here.
 */
import type { Client } from '@temporalio/client';
import type { google, temporal } from '@temporalio/proto';
import type { Plan } from '../plan/schema';
import { fetchHistoryChain } from '../cli/history-chain';
import type { SetFlagsInput } from '../activities/rollout-activities';
import type { RolloutWorkflowInput } from '../workflows/rollout';
import type { FlagWriteEvidence } from './evidence-report';

/** The history's part of the evidence. */
export interface HistoryFacts {
  /** The chain's first run: the one a person started. */
  firstRunId: string;
  /** The plan the rollout ran: the first run's workflow input. Undefined when the input is not a plan. */
  plan?: Plan;
  /** Who started the rollout: the `identity` of the first run's WorkflowExecutionStarted event. */
  startedBy?: string;
  /** Every flag write that went through (setFlags activity completed), oldest first, across the chain. */
  flagWrites: FlagWriteEvidence[];
}

/**
 * Reads the rollout's start (who and with which plan) and its completed flag writes from the histories of every run
 * of its continue-as-new chain. An unknown workflow id rejects with WorkflowNotFoundError; a payload that does not
 * decode leaves its fact out rather than failing the report.
 */
export async function readHistoryFacts(client: Client, workflowId: string, firstRunId?: string): Promise<HistoryFacts> {
  const runs = await fetchHistoryChain(client, workflowId, firstRunId);
  const decode = <T>(payload: temporal.api.common.v1.IPayload | null | undefined): T | undefined => {
    if (!payload) return undefined;
    try {
      return client.options.loadedDataConverter.payloadConverter.fromPayload<T>(payload);
    } catch {
      return undefined;
    }
  };
  const started = runs[0]?.history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const input = decode<RolloutWorkflowInput>(started?.input?.payloads?.[0]);
  const flagWrites: FlagWriteEvidence[] = [];
  for (const { history } of runs) {
    const scheduled = new Map<string, SetFlagsInput>();
    for (const event of history.events ?? []) {
      const s = event.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name === 'setFlags') {
        const write = decode<SetFlagsInput>(s.input?.payloads?.[0]);
        if (write) scheduled.set(String(event.eventId), write);
      }
      const done = event.activityTaskCompletedEventAttributes;
      const write = done ? scheduled.get(String(done.scheduledEventId)) : undefined;
      if (write && event.eventTime) flagWrites.push({ at: timestampMs(event.eventTime), flags: write.flags, percent: write.percent, enabled: write.enabled });
    }
  }
  return {
    firstRunId: runs[0]?.runId ?? firstRunId ?? '',
    ...(input?.plan?.phases ? { plan: input.plan } : {}),
    ...(started?.identity ? { startedBy: started.identity } : {}),
    flagWrites,
  };
}

function timestampMs(ts: google.protobuf.ITimestamp): number {
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : (ts.seconds?.toNumber() ?? 0);
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}
