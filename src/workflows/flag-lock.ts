/**
 * The lock on one flag: one rollout at a time writes a flag, whatever its workflow id. The lock is a small workflow
 * whose id names the flag store and the flag (see `flagLockId`); it exists while a rollout holds it, and its input and
 * memo name the holder. Starting it is taking it: Temporal refuses a second running workflow with the same id, so two
 * rollouts racing for a flag cannot both win. The holder releases it with a signal when it settles; a lock whose
 * holder stopped without releasing it (terminated, failed) is taken over by the next rollout (the acquire activity
 * checks that the holder no longer runs).
 */
import { condition, defineSignal, setHandler } from '@temporalio/workflow';

export interface FlagLockInput {
  /** The workflow id of the rollout that holds the lock. */
  holder: string;
  flag: string;
  /** Which flag store: its type and location ("flagd-file:/srv/flags.json"). */
  store: string;
}

/** Releases the lock; only the holder's own release (its workflow id) counts. */
export const releaseFlagLockSignal = defineSignal<[{ holder: string }]>('release');

export async function flagLockWorkflow(input: FlagLockInput): Promise<void> {
  let released = false;
  // The payload is hostile until checked: anything but the holder's own id is ignored.
  setHandler(releaseFlagLockSignal, (raw: unknown) => {
    if (typeof raw === 'object' && raw !== null && (raw as { holder?: unknown }).holder === input.holder) released = true;
  });
  await condition(() => released);
}
