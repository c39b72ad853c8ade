/**
 * The walking-skeleton rollout: proves the toolchain end to end (flag activity, durable timer, approval signal,
 * compensating rollback). It walks fixed steps; the plan-driven rollout workflow supersedes it.
 */
import {
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { Activities } from '../activities';
import { canaryPhaseKey, canaryPlanIdKey, canaryStatusKey, canaryTrafficPercentKey } from './search-attributes';

export interface SkeletonStep {
  name: string;
  percent: number;
  minDuration: Duration;
}

export interface SkeletonRolloutInput {
  planId: string;
  flagKey: string;
  steps: SkeletonStep[];
}

export type SkeletonOutcome = 'completed' | 'rolled_back';

export interface SkeletonRolloutResult {
  outcome: SkeletonOutcome;
  finalPercent: number;
  /** Steps that were entered, in order. */
  stepsEntered: string[];
  /** Workflow time spent, in milliseconds (virtual under time skipping). */
  elapsedMs: number;
  reason?: string;
}

export interface ApproveStepInput {
  step: string;
  by: string;
}

export interface AbortRolloutInput {
  reason: string;
  by: string;
}

export interface SkeletonStatus {
  step?: string;
  percent: number;
  waitingForApproval: boolean;
  approvedSteps: string[];
}

export const approveStepSignal = defineSignal<[ApproveStepInput]>('approveStep');
export const abortSignal = defineSignal<[AbortRolloutInput]>('abort');
export const skeletonStatusQuery = defineQuery<SkeletonStatus>('status');

const { setFlagPercent, rollbackFlag } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5 },
});

class AbortRequested extends Error {}

export async function skeletonRollout(input: SkeletonRolloutInput): Promise<SkeletonRolloutResult> {
  const startedAt = Date.now();
  const approved = new Set<string>();
  let abort: AbortRolloutInput | undefined;
  let percent = 0;
  let step: string | undefined;
  let waitingForApproval = false;
  const stepsEntered: string[] = [];
  const compensations: Array<() => Promise<void>> = [];

  setHandler(approveStepSignal, ({ step: approvedStep }) => void approved.add(approvedStep));
  setHandler(abortSignal, (request) => {
    abort ??= request;
  });
  setHandler(skeletonStatusQuery, () => ({ step, percent, waitingForApproval, approvedSteps: [...approved] }));

  const show = (status: string) =>
    upsertSearchAttributes([
      { key: canaryPlanIdKey, value: input.planId },
      { key: canaryStatusKey, value: status },
      { key: canaryPhaseKey, value: step ?? 'none' },
      { key: canaryTrafficPercentKey, value: percent },
    ]);
  const abortRequested = () => abort !== undefined;

  try {
    show('running');
    for (const next of input.steps) {
      const previous = percent;
      await setFlagPercent(input.flagKey, next.percent);
      compensations.unshift(() => rollbackFlag(input.flagKey, previous));
      percent = next.percent;
      step = next.name;
      stepsEntered.push(next.name);
      show('running');

      // Sleep through the minimum duration unless an abort arrives first.
      if (await condition(abortRequested, next.minDuration)) throw new AbortRequested();
      waitingForApproval = true;
      await condition(() => abortRequested() || approved.has(next.name));
      waitingForApproval = false;
      if (abortRequested()) throw new AbortRequested();
    }
    show('completed');
    return { outcome: 'completed', finalPercent: percent, stepsEntered, elapsedMs: Date.now() - startedAt };
  } catch (err) {
    if (!(err instanceof AbortRequested)) throw err;
    // Roll back even if the workflow itself is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      for (const compensate of compensations) await compensate();
    });
    percent = 0;
    show('rolled_back');
    return {
      outcome: 'rolled_back',
      finalPercent: 0,
      stepsEntered,
      elapsedMs: Date.now() - startedAt,
      reason: `aborted by ${abort?.by}: ${abort?.reason}`,
    };
  }
}

