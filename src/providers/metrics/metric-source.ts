/**
 * The narrow interface of a metric source: answer a query, say whether it is online. Nothing more — a fake for tests
 * implements two methods. "No data", "bad data" and "source down" are distinct readings, never exceptions.
 */
import type { MetricReading, Millis } from '../../domain/types';

export interface MetricQueryContext {
  /** The moment the rollout asks about (workflow time). */
  at: Millis;
  /** When the rollout started (scenario sources replay by offset). */
  rolloutStartedAt: Millis;
}

export interface MetricSource {
  /** Reads one metric; never throws for source problems — returns an error reading instead. */
  query(metric: string, query: string, ctx: MetricQueryContext): Promise<MetricReading>;
  isOnline(): Promise<boolean>;
}
