/**
 * The narrow interface every flag provider implements: read a flag's rollout state, write it.
 * Providers never import Temporal; activities wrap them.
 */

/** What a rollout controls on one flag: whether it serves the new variant at all, and to what share of traffic. */
export interface FlagRolloutState {
  /** False is the kill switch: nobody gets the new variant, whatever the percentage. */
  enabled: boolean;
  /** Share of targeting keys that get the new variant, 0–100; decimals such as 0.5 are allowed. */
  percent: number;
}

export interface FlagStore {
  /** The flag's current state, or undefined when the flag does not exist. */
  read(flagKey: string): Promise<FlagRolloutState | undefined>;
  /** Writes the state and verifies it by reading it back; throws when the write could not be confirmed. */
  write(flagKey: string, state: FlagRolloutState): Promise<void>;
}
