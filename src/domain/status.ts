/**
 * The status of a rollout as its readers see it — the `status` query, `canary status`/`watch`, the HTTP API, the
 * demo and the evidence report: where it is, what it waits for (as data and in words), the hold, the current phase's
 * gates and the latest ops-log lines. Computed from the machine's state alone, so the workflow only answers with it.
 */
import { triggersAt, type CompiledPlan } from './compiled-plan';
import { sustainProgress } from './sustain';
import type { OpsLogEntry, Outcome, RolloutState, RolloutStatus } from './types';
import { pendingApprovalRoles, type Wait } from './waits';

/** How many of the latest ops-log lines the status carries. */
export const STATUS_LOG_LINES = 50;

export interface RolloutStatusView {
  rolloutId: string;
  planId: string;
  status: RolloutStatus;
  outcome?: Outcome;
  phase: string;
  phaseIndex: number;
  percent: number;
  phaseEnteredAt: number;
  /** When the current phase's minimum duration ends; absent before the first phase or for a phase without one. */
  minimumEndsAt?: number;
  /** What the rollout waits for, as data: read these fields, never the words. */
  waits: Wait[];
  /** The same waits in words (`describeWait`), one sentence each. */
  waitingFor: string[];
  hold?: { reason: string; since: number; deadline?: number; decidedBy?: string[] };
  gates: Array<{ name: string; satisfied: boolean; detail?: string }>;
  /**
   * The triggers in force and how far each has got toward firing: `progress` says how much of its `for` or windows
   * has passed ("true for 30s of the 2m it needs") while it is on its way; `fired` once it has fired.
   */
  triggers?: Array<{ name: string; action: string; fired: boolean; progress?: string; detail?: string }>;
  /** Members of each role an approval or a hold decision is pending from: what `--by` may be. */
  approvers?: Record<string, string[]>;
  /** The latest {@link STATUS_LOG_LINES} ops-log entries, oldest first. */
  opsLog: OpsLogEntry[];
}

/**
 * The status view of `state`. A state carried over from a rollout started before waits were data has no `waits`
 * until the machine's next step: its words are shown as they were, with no waits.
 */
export function statusOf(compiled: CompiledPlan, state: RolloutState, rolloutId: string): RolloutStatusView {
  const plan = compiled.source;
  const phase = compiled.phases[state.phaseIndex];
  const minMs = phase?.minMs;
  return {
    rolloutId,
    planId: plan.id,
    status: state.status,
    outcome: state.outcome,
    phase: phase?.name ?? 'before-start',
    phaseIndex: state.phaseIndex,
    percent: state.percent,
    phaseEnteredAt: state.phaseEnteredAt,
    minimumEndsAt: phase && minMs !== undefined ? state.phaseEnteredAt + minMs : undefined,
    waits: state.waits ?? [],
    waitingFor: state.waitingFor,
    hold: state.hold && { reason: state.hold.reason, since: state.hold.since, deadline: state.hold.deadline, decidedBy: state.hold.decidedBy },
    gates: phase
      ? phase.gates.map(({ key, check, timing }) => {
          const track = state.tracks[key];
          const progress = sustainProgress(track, timing, state.now);
          return { name: check.name, satisfied: track?.satisfied ?? false, detail: track?.detail && progress ? `${track.detail}; ${progress}` : track?.detail };
        })
      : [],
    triggers: triggersAt(compiled, state.phaseIndex).map(({ key, trigger, timing }) => {
      const track = state.tracks[key];
      const fired = track?.latched === true;
      const onItsWay = track !== undefined && (track.trueSince !== undefined || track.windowsPassed > 0 || (track.failures ?? 0) > 0);
      const progress = !fired && onItsWay ? sustainProgress(track, timing, state.now) : undefined;
      return { name: trigger.name, action: trigger.action, fired, ...(progress ? { progress } : {}), ...(track?.detail ? { detail: track.detail } : {}) };
    }),
    approvers: Object.fromEntries(
      [...new Set([...pendingApprovalRoles(state.waits ?? []), ...(state.hold?.decidedBy ?? [])])].map((role) => [role, plan.roles[role]?.members ?? []]),
    ),
    opsLog: state.opsLog.slice(-STATUS_LOG_LINES),
  };
}
