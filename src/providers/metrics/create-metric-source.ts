/**
 * Picks the metric source implementation for a plan's `providers.metrics` entry and keeps one instance per source, so
 * a scrape source's history (which its rates and quantiles are computed from) survives from one observation to the
 * next.
 */
import type { Plan } from '../../plan/schema';
import type { MetricSource } from './metric-source';
import { PrometheusMetricSource } from './prometheus-source';
import { ScrapeMetricSource } from './scrape-source';

type MetricSourceConfig = Plan['providers']['metrics'][string];

const instances = new WeakMap<NodeJS.ProcessEnv, Map<string, MetricSource>>();

/**
 * Returns the source for `name`: a {@link PrometheusMetricSource} for `prometheus`, a {@link ScrapeMetricSource} for
 * `scrape`, and undefined for `scenario` (the worker builds those from the scenario it runs). The same name with the
 * same settings (url, timeout, auth names, interval) returns the same instance for the same `env`; changed settings
 * get a fresh instance. Credentials are not read here but on each request, from `env`.
 */
export function createMetricSource(name: string, config: MetricSourceConfig, env: NodeJS.ProcessEnv = process.env): MetricSource | undefined {
  if (config.type === 'scenario') return undefined;
  let byKey = instances.get(env);
  if (!byKey) {
    byKey = new Map();
    instances.set(env, byKey);
  }
  const key = `${name}\u0000${JSON.stringify(config)}`;
  const existing = byKey.get(key);
  if (existing) return existing;
  const source = config.type === 'prometheus' ? new PrometheusMetricSource(config, env) : ScrapeMetricSource.fromConfig(config);
  byKey.set(key, source);
  return source;
}
