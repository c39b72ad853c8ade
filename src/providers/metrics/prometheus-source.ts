/**
 * A metric source backed by a Prometheus server's HTTP API (also Thanos, Mimir, VictoriaMetrics and other servers that
 * speak it): instant queries on `/api/v1/query` for gates, range queries on `/api/v1/query_range` when asked.
 *
 * Credentials are named in the plan by environment variable NAME and read from the worker's environment on every
 * request, so rotating a token needs no restart; a missing variable is reported by name, its value never appears.
 */
import { parseDuration } from '../../domain/duration';
import type { MetricReading, Millis } from '../../domain/types';
import type { Plan } from '../../plan/schema';
import { parseValue } from './exposition';
import { describeFetchFailure } from './fetch-failure';
import type { MetricQueryContext, MetricSource } from './metric-source';

/** The plan's `type: prometheus` source settings. */
export type PrometheusSourceConfig = Extract<Plan['providers']['metrics'][string], { type: 'prometheus' }>;

/** A range query's bounds: epoch milliseconds and the resolution step. */
export interface RangeQueryOptions {
  start: Millis;
  end: Millis;
  stepMs: number;
}

/** One series of a range query: its labels and its points as [epoch ms, value] (NaN is kept as NaN). */
export interface RangeSeries {
  labels: Record<string, string>;
  points: Array<[Millis, number]>;
}

/** The outcome of a range query, with the same meaning of no-data / invalid / error as a {@link MetricReading}. */
export type RangeReading =
  | { status: 'ok'; series: RangeSeries[]; query: string }
  | { status: 'no-data'; query: string }
  | { status: 'invalid'; detail: string; query: string }
  | { status: 'error'; detail: string; query: string };

/** The default request timeout when the plan sets none. */
export const DEFAULT_PROMETHEUS_TIMEOUT_MS = 10_000;

interface ApiResponse {
  status?: unknown;
  data?: { resultType?: unknown; result?: unknown };
  errorType?: unknown;
  error?: unknown;
}

type Failure = { status: 'error' | 'invalid'; detail: string };
type ApiAnswer = { ok: true; data: ApiResponse['data'] } | { ok: false; failure: Failure };

/**
 * A {@link MetricSource} over the Prometheus HTTP API. An instant query answers:
 * - a vector with exactly one sample, or a scalar → `ok`;
 * - an empty vector → `no-data`;
 * - several series, a matrix (range vector) or a string, or a NaN/±Inf value → `invalid`, with what to change;
 * - connection refused, timeout, HTTP errors, `status: "error"` (including PromQL syntax errors), a body that is not
 *   the API's JSON, or a credential variable that is not set → `error`.
 * Every reading carries the query exactly as sent. Queries are evaluated at the server's current time.
 */
export class PrometheusMetricSource implements MetricSource {
  private readonly timeoutMs: number;
  private readonly base: string;

  constructor(
    private readonly config: PrometheusSourceConfig,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.timeoutMs = config.timeout === undefined ? DEFAULT_PROMETHEUS_TIMEOUT_MS : parseDuration(config.timeout);
    this.base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  }

  async query(_metric: string, query: string, _ctx: MetricQueryContext): Promise<MetricReading> {
    const sent = query.trim();
    const answer = await this.call('api/v1/query', { query: sent });
    return { ...(answer.ok ? instantReading(answer.data) : answer.failure), query: sent };
  }

  /** Runs a range query (`/api/v1/query_range`); outcomes as for {@link query}, except that a matrix is expected. */
  async queryRange(query: string, range: RangeQueryOptions): Promise<RangeReading> {
    const sent = query.trim();
    const answer = await this.call('api/v1/query_range', {
      query: sent,
      start: String(range.start / 1000),
      end: String(range.end / 1000),
      step: String(range.stepMs / 1000),
    });
    return { ...(answer.ok ? rangeReading(answer.data) : answer.failure), query: sent };
  }

  /** True when `/-/ready` answers 2xx; servers without that endpoint are asked a trivial query instead. */
  async isOnline(): Promise<boolean> {
    const headers = this.authHeaders();
    if ('detail' in headers) return false;
    try {
      const response = await fetch(new URL('-/ready', this.base), { headers, signal: AbortSignal.timeout(this.timeoutMs) });
      await response.body?.cancel();
      if (response.ok) return true;
      if (response.status !== 404) return false;
    } catch {
      return false;
    }
    const answer = await this.call('api/v1/query', { query: '1' });
    return answer.ok;
  }

  /** POSTs a form to the API and returns its `data`, or a failure with a detail naming what went wrong. */
  private async call(path: string, form: Record<string, string>): Promise<ApiAnswer> {
    const auth = this.authHeaders();
    if ('detail' in auth) return { ok: false, failure: { status: 'error', detail: auth.detail } };
    const target = `Prometheus at ${this.config.url}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(new URL(path, this.base), {
        method: 'POST',
        headers: { ...auth, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      return { ok: false, failure: { status: 'error', detail: describeFetchFailure(err, target, this.timeoutMs) } };
    }
    let body: ApiResponse | undefined;
    try {
      body = JSON.parse(text) as ApiResponse;
    } catch {
      body = undefined;
    }
    if (body?.status === 'error' || !response.ok) {
      const reason = typeof body?.error === 'string' ? `: ${String(body.errorType ?? 'error')}: ${body.error}` : '';
      const hint =
        response.status === 401 || response.status === 403
          ? `; check the credentials in ${this.credentialNames()}`
          : response.status >= 500
            ? '; the server is failing or overloaded'
            : '';
      return { ok: false, failure: { status: 'error', detail: `${target} answered HTTP ${response.status}${reason}${hint}` } };
    }
    if (body?.status !== 'success' || typeof body.data !== 'object' || body.data === null) {
      return {
        ok: false,
        failure: { status: 'error', detail: `${target} did not answer with the Prometheus API's JSON; check that the url is the server's root (e.g. http://prometheus:9090), not a dashboard or the /api path` },
      };
    }
    return { ok: true, data: body.data };
  }

  /** The Authorization header from the environment, read now; a missing variable is named, never its value. */
  private authHeaders(): Record<string, string> | { detail: string } {
    const auth = this.config.auth;
    if (auth === undefined) return {};
    const read = (name: string): string | { detail: string } => {
      const value = this.env[name];
      if (value === undefined || value === '') {
        return { detail: `environment variable ${name} is not set on the worker; set it to the credential for Prometheus at ${this.config.url}` };
      }
      return value;
    };
    if ('bearerTokenEnv' in auth) {
      const token = read(auth.bearerTokenEnv);
      return typeof token === 'string' ? { authorization: `Bearer ${token}` } : token;
    }
    const username = read(auth.usernameEnv);
    if (typeof username !== 'string') return username;
    const password = read(auth.passwordEnv);
    if (typeof password !== 'string') return password;
    return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
  }

  private credentialNames(): string {
    const auth = this.config.auth;
    if (auth === undefined) return 'the plan (no auth is configured for this source)';
    return 'bearerTokenEnv' in auth ? auth.bearerTokenEnv : `${auth.usernameEnv} / ${auth.passwordEnv}`;
  }
}

/** Interprets the `data` of an instant query. */
function instantReading(data: ApiResponse['data']): Omit<Extract<MetricReading, { status: 'ok' }>, 'query'> | { status: 'no-data' } | Failure {
  const resultType = data?.resultType;
  const result = data?.result;
  if (resultType === 'scalar') return numberReading(Array.isArray(result) ? result[1] : undefined, 'the scalar');
  if (resultType === 'vector' && Array.isArray(result)) {
    if (result.length === 0) return { status: 'no-data' };
    if (result.length > 1) {
      const shown = result.slice(0, 3).map((s) => formatLabels((s as { metric?: unknown }).metric)).join(', ');
      return {
        status: 'invalid',
        detail: `the query returned ${result.length} series (${shown}${result.length > 3 ? ', …' : ''}) where one number is needed; aggregate them (sum(…), max(…)) or narrow the label matchers`,
      };
    }
    const sample = result[0] as { metric?: unknown; value?: unknown };
    return numberReading(Array.isArray(sample.value) ? sample.value[1] : undefined, formatLabels(sample.metric));
  }
  if (resultType === 'matrix') {
    return { status: 'invalid', detail: 'the query returned a range vector (matrix) where one number is needed; wrap the range selector in a function such as rate(…[5m]) or drop the [range]' };
  }
  if (resultType === 'string') return { status: 'invalid', detail: 'the query returned a string where a number is needed' };
  return { status: 'invalid', detail: `the query returned an unknown result type ${JSON.stringify(resultType)}` };
}

function numberReading(raw: unknown, what: string): { status: 'ok'; value: number } | Failure {
  const value = typeof raw === 'string' ? parseValue(raw) : undefined;
  if (value === undefined) return { status: 'invalid', detail: `${what} has no numeric value (${JSON.stringify(raw)})` };
  if (Number.isNaN(value)) {
    return { status: 'invalid', detail: `${what} is NaN, typically 0/0 when nothing happened in the window; guard the division or compare the counts first` };
  }
  if (!Number.isFinite(value)) return { status: 'invalid', detail: `${what} is ${value > 0 ? '+Inf' : '-Inf'}, typically a division by zero` };
  return { status: 'ok', value };
}

/** Interprets the `data` of a range query: a matrix, possibly empty. */
function rangeReading(data: ApiResponse['data']): { status: 'ok'; series: RangeSeries[] } | { status: 'no-data' } | Failure {
  if (data?.resultType !== 'matrix' || !Array.isArray(data.result)) {
    return { status: 'invalid', detail: `the range query returned ${JSON.stringify(data?.resultType)} where a matrix was expected` };
  }
  if (data.result.length === 0) return { status: 'no-data' };
  const series: RangeSeries[] = [];
  for (const entry of data.result as Array<{ metric?: Record<string, string>; values?: unknown }>) {
    const points: Array<[Millis, number]> = [];
    for (const pair of Array.isArray(entry.values) ? (entry.values as unknown[]) : []) {
      const [t, v] = Array.isArray(pair) ? pair : [];
      const value = typeof v === 'string' ? parseValue(v) : undefined;
      if (typeof t !== 'number' || value === undefined) return { status: 'invalid', detail: `the range query returned a malformed point ${JSON.stringify(pair)}` };
      points.push([Math.round(t * 1000), value]);
    }
    series.push({ labels: { ...(entry.metric ?? {}) }, points });
  }
  return { status: 'ok', series };
}

function formatLabels(metric: unknown): string {
  if (typeof metric !== 'object' || metric === null) return '{}';
  const { __name__: name, ...labels } = metric as Record<string, string>;
  const inner = Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return `${name ?? ''}{${inner}}`;
}
