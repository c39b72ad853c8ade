/**
 * The one interpreter of machine commands, shared by the workflow and the simulator so both carry out commands in
 * the same order and feed back the same events: feed an event, carry out the commands it produced through
 * {@link Effects}, feed their results back (observations, task and check results), until nothing is left.
 * Timers (the `wake` command) stay with the caller: a durable timer in the workflow, a virtual clock in the simulator.
 */
import { apply } from './machine';
import type { CompiledPlan } from './compiled-plan';
import type { MetricReading, RolloutCommand, RolloutEvent, RolloutState } from './types';

type Command<T extends RolloutCommand['type']> = Extract<RolloutCommand, { type: T }>;

/** The side effects a rollout needs; implemented with activities (workflow) or a scenario (simulator). */
export interface Effects {
  /** Resolves with `{ ok: false }` when the write failed for good (after the provider's retries): fed back as an event. */
  setFlags(command: Command<'set-flags'>): Promise<void | { ok: false; detail: string }>;
  setConfig(command: Command<'set-config'>): Promise<void>;
  observe(command: Command<'observe'>): Promise<{ metrics: Record<string, MetricReading>; flags?: Record<string, string | number | boolean | undefined> }>;
  /** Which of the plan's providers do not answer, in words ("metrics source prometheus: connection refused"). */
  checkProviders(command: Command<'check-providers'>): Promise<{ offline: string[] }>;
  runTask(command: Command<'run-task'>): Promise<{ ok: boolean; detail?: string }>;
  runCheck(command: Command<'run-check'>): Promise<{ ok: boolean; detail?: string }>;
  notify(command: Command<'notify'>): Promise<void>;
  log?(command: Command<'log'>): Promise<void>;
}

/**
 * Applies `event` and everything it leads to. Feedback events are stamped with the time of the event that caused
 * them, so decisions do not depend on how long a side effect took.
 */
export async function feed(plan: CompiledPlan, state: RolloutState, event: RolloutEvent, effects: Effects): Promise<void> {
  const queue: RolloutEvent[] = [event];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const at = Math.max(state.now, next.at);
    const commands = apply(plan, state, next);
    for (const command of commands) {
      switch (command.type) {
        case 'set-flags': {
          const written = await effects.setFlags(command);
          if (written && !written.ok) {
            queue.push({ type: 'flag-write-failed', at, flags: command.flags, percent: command.percent, enabled: command.enabled, reason: command.reason, detail: written.detail });
          } else if (command.retry) {
            queue.push({ type: 'flag-write-retried', at, flags: command.flags, percent: command.percent, enabled: command.enabled });
          }
          break;
        }
        case 'set-config':
          await effects.setConfig(command);
          break;
        case 'observe': {
          const observed = await effects.observe(command);
          queue.push({ type: 'observation', at, metrics: observed.metrics, flags: observed.flags });
          break;
        }
        case 'check-providers': {
          const checked = await effects.checkProviders(command);
          queue.push({ type: 'providers-checked', at, offline: checked.offline });
          break;
        }
        case 'run-task': {
          const result = await effects.runTask(command);
          queue.push({ type: 'task-result', at, task: command.task, scope: command.scope, ok: result.ok, detail: result.detail });
          break;
        }
        case 'run-check': {
          const result = await effects.runCheck(command);
          queue.push({ type: 'check-result', at, check: command.check, ok: result.ok, detail: result.detail });
          break;
        }
        case 'notify':
          await effects.notify(command);
          break;
        case 'log':
          await effects.log?.(command);
          break;
        case 'wake':
          break;
      }
    }
  }
}

/** How late a timer may fire and still count as on time (server and worker jitter, busy task queues). */
export const TIMER_JITTER_MS = 5_000;

/**
 * The time a timer event is stamped with: the moment it was scheduled for when it fired within
 * {@link TIMER_JITTER_MS}, so jitter never shifts windows and "for" durations; the real time when it fired later
 * (a worker that was down), so a late tick never pretends to be early.
 */
export function timerEventTime(scheduledAt: number | undefined, now: number): number {
  return scheduledAt !== undefined && now >= scheduledAt && now - scheduledAt <= TIMER_JITTER_MS ? scheduledAt : now;
}
