/** A metric source answering from a simulation scenario, by offset from the rollout's start. */
import { readingAt, type Scenario } from '../../simulate/scenario';
import type { MetricReading } from '../../domain/types';
import type { MetricQueryContext, MetricSource } from './metric-source';

export class ScenarioMetricSource implements MetricSource {
  constructor(private readonly scenario: Scenario) {}

  async query(metric: string, query: string, ctx: MetricQueryContext): Promise<MetricReading> {
    return readingAt(this.scenario, metric, ctx.at - ctx.rolloutStartedAt, query);
  }

  async isOnline(): Promise<boolean> {
    return true;
  }
}
