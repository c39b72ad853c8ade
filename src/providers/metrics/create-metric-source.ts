/**
 * Picks the metric source implementation for a plan's `providers.metrics` entry and keeps one instance per source
 * settings for the worker process's whole life, so a scrape source's history (which its rates and quantiles are
 * computed from) survives from one observation to the next, across a rollout's continue-as-new (a new run reads the
 * same plan and finds the same instance) and across rollouts and source names that read the same target.
 */
import type { Plan } from '../../plan/schema';
import type { MetricSource } from './metric-source';
import { PrometheusMetricSource } from './prometheus-source';
import { ScrapeMetricSource } from './scrape-source';

type MetricSourceConfig = Plan['providers']['metrics'][string];

const instances = new WeakMap<NodeJS.ProcessEnv, Map<string, MetricSource>>();

/**
 * Returns the source for `name`: a {@link PrometheusMetricSource} for `prometheus`, a {@link ScrapeMetricSource} for
 * `scrape`, and undefined for `scenario` (the worker builds those from the scenario it runs). The same settings (url,
 * timeout, auth names, interval) return the same instance for the same `env`, whatever the source's name in the plan:
 * two names for one /metrics share one history. Changed settings get a fresh instance. Credentials are not read here
 * but on each request, from `env`. The instances are never dropped; a restarted worker starts empty, and a scrape
 * source then takes a second scrape before answering a rate (scrape-source.ts).
 */
export function createMetricSource(_name: string, config: MetricSourceConfig, env: NodeJS.ProcessEnv = process.env): MetricSource | undefined {
  if (config.type === 'scenario') return undefined;
  let byKey = instances.get(env);
  if (!byKey) {
    byKey = new Map();
    instances.set(env, byKey);
  }
  const key = settingsKey(config);
  const existing = byKey.get(key);
  if (existing) return existing;
  const source = config.type === 'prometheus' ? new PrometheusMetricSource(config, env) : ScrapeMetricSource.fromConfig(config);
  byKey.set(key, source);
  return source;
}

/** The settings as a key that does not depend on the order the plan wrote them in. */
function settingsKey(config: Exclude<MetricSourceConfig, { type: 'scenario' }>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}
