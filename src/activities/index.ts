/**
 * Activities: every side effect a rollout has. Built by {@link createActivities} from providers, so tests and the
 * worker choose the real or fake systems in one place (src/worker.ts). Imports providers and domain, never workflows.
 */
import { log } from '@temporalio/activity';
import type { FlagStore } from '../providers/flags/flag-store';

/** The providers activities act through. */
export interface ActivityDeps {
  flags: FlagStore;
}

/** Builds the activity functions registered on the worker; workflows import this type only. */
export function createActivities(deps: ActivityDeps) {
  return {
    /** Serves the new variant to `percent` of traffic on `flagKey`, verified by read-back. */
    async setFlagPercent(flagKey: string, percent: number): Promise<void> {
      await deps.flags.write(flagKey, { enabled: true, percent });
      log.info('flag set', { flagKey, percent });
    },

    /** Compensation: puts the flag back to the percentage it had before a step (0 switches it off). */
    async rollbackFlag(flagKey: string, percent: number): Promise<void> {
      await deps.flags.write(flagKey, { enabled: percent > 0, percent });
      log.info('flag rolled back', { flagKey, percent });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
