/**
 * PrometheusMetricSource against a real Prometheus server (test/helpers/prometheus-server.ts) scraping a small
 * service this test runs. Fakes stand in only where a real server cannot be made to misbehave on cue: a checking
 * proxy for credentials, a server that never answers, one that fails with HTTP 503.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricQueryContext } from '../../../src/providers/metrics/metric-source';
import { PrometheusMetricSource, type PrometheusSourceConfig } from '../../../src/providers/metrics/prometheus-source';
import { ScrapeMetricSource } from '../../../src/providers/metrics/scrape-source';
import { startPrometheus, waitForQuery, type PrometheusServer } from '../../helpers/prometheus-server';
import { describeMetricSourceContract } from './metric-source.contract';

const CTX: MetricQueryContext = { at: 0, rolloutStartedAt: 0 };

const servers: Server[] = [];
let prometheus: PrometheusServer | undefined;
let target: Server;
let promUrl = '';

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * The service Prometheus scrapes: a constant gauge, two counters that grow by 10 and 1 per scrape (an error rate of
 * 1/11), and a histogram whose buckets grow by 50/90/100/100 per scrape (p95 = 0.75 by interpolation).
 */
function startTarget(): Server {
  let fetches = 0;
  return createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      [
        '# TYPE canary_test_temperature gauge',
        'canary_test_temperature 21.5',
        '# TYPE canary_test_requests_total counter',
        `canary_test_requests_total{code="200"} ${fetches * 10}`,
        `canary_test_requests_total{code="500"} ${fetches}`,
        '# TYPE canary_test_latency_seconds histogram',
        `canary_test_latency_seconds_bucket{le="0.1"} ${fetches * 50}`,
        `canary_test_latency_seconds_bucket{le="0.5"} ${fetches * 90}`,
        `canary_test_latency_seconds_bucket{le="1"} ${fetches * 100}`,
        `canary_test_latency_seconds_bucket{le="+Inf"} ${fetches * 100}`,
        `canary_test_latency_seconds_count ${fetches * 100}`,
        '',
      ].join('\n'),
    );
  });
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function source(config: Partial<PrometheusSourceConfig> = {}, env: NodeJS.ProcessEnv = {}): PrometheusMetricSource {
  return new PrometheusMetricSource({ type: 'prometheus', url: promUrl, ...config }, env);
}

beforeAll(async () => {
  target = startTarget();
  const targetUrl = await listen(target);
  prometheus = await startPrometheus({ targets: [targetUrl.replace('http://', '')], scrapeInterval: '1s' });
  promUrl = prometheus.url;
  // Rates need at least two samples in their window: wait for a few scrapes.
  await waitForQuery(promUrl, 'count_over_time(canary_test_requests_total{code="200"}[1m])', (data) => {
    const result = data.result as Array<{ value: [number, string] }>;
    return result.length === 1 && Number(result[0]?.value[1]) >= 4;
  });
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

describeMetricSourceContract('PrometheusMetricSource', {
  healthy: () => ({ source: source(), query: 'canary_test_temperature', expected: 21.5 }),
  noData: () => ({ source: source(), query: 'canary_test_absent_metric{job="target"}' }),
  badData: () => ({ source: source(), query: '0/0' }),
  down: async () => ({ source: new PrometheusMetricSource({ type: 'prometheus', url: await closedPortUrl() }, {}), query: 'canary_test_temperature' }),
});

describe('PrometheusMetricSource against a real Prometheus', () => {
  it('answers a rate ratio, the usual error-rate query', async () => {
    const query = 'sum(rate(canary_test_requests_total{code="500"}[1m])) / sum(rate(canary_test_requests_total[1m]))';
    const reading = await source().query('error_rate', query, CTX);
    expect(reading).toEqual({ status: 'ok', value: expect.any(Number), query });
    expect(reading.status === 'ok' && reading.value).toBeCloseTo(1 / 11, 6);
  });

  it('answers a histogram quantile', async () => {
    const query = 'histogram_quantile(0.95, sum by (le) (rate(canary_test_latency_seconds_bucket[1m])))';
    const reading = await source().query('p95', query, CTX);
    expect(reading.status === 'ok' && reading.value).toBeCloseTo(0.75, 6);
  });

  it('agrees with the scrape source on the same service', async () => {
    const scrape = new ScrapeMetricSource({ url: `http://${(target.address() as AddressInfo).address}:${(target.address() as AddressInfo).port}/metrics` });
    const quantile = 'histogram_quantile(0.95, sum by (le) (rate(canary_test_latency_seconds_bucket[1m])))';
    const ratio = 'sum(rate(canary_test_requests_total{code="500"}[1m])) / sum(rate(canary_test_requests_total[1m]))';
    await scrape.query('p95', quantile, CTX);
    // The scrape source stamps scrapes with the wall clock: the second one must land in a later millisecond.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const [fromScrape, ratioFromScrape, fromPrometheus, ratioFromPrometheus] = await Promise.all([
      scrape.query('p95', quantile, CTX),
      scrape.query('error_rate', ratio, CTX),
      source().query('p95', quantile, CTX),
      source().query('error_rate', ratio, CTX),
    ]);
    expect(fromScrape.status === 'ok' && fromScrape.value).toBeCloseTo(fromPrometheus.status === 'ok' ? fromPrometheus.value : NaN, 6);
    expect(ratioFromScrape.status === 'ok' && ratioFromScrape.value).toBeCloseTo(ratioFromPrometheus.status === 'ok' ? ratioFromPrometheus.value : NaN, 6);
  });

  it('answers a scalar result as ok', async () => {
    await expect(source().query('m', 'scalar(canary_test_temperature) * 2', CTX)).resolves.toEqual({ status: 'ok', value: 43, query: 'scalar(canary_test_temperature) * 2' });
  });

  it('answers invalid, naming the count, when the query returns several series', async () => {
    const reading = await source().query('m', 'canary_test_requests_total', CTX);
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('returned 2 series'), query: 'canary_test_requests_total' });
    expect(reading.status === 'invalid' && reading.detail).toContain('sum(');
  });

  it('answers invalid when the query returns a range vector', async () => {
    const reading = await source().query('m', 'canary_test_temperature[1m]', CTX);
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('range vector'), query: 'canary_test_temperature[1m]' });
  });

  it('answers invalid when the query returns a string', async () => {
    await expect(source().query('m', '"canary"', CTX)).resolves.toEqual({ status: 'invalid', detail: expect.stringContaining('string'), query: '"canary"' });
  });

  it('answers invalid for NaN in a vector and for an infinite scalar', async () => {
    const nan = await source().query('m', 'canary_test_temperature * 0 / 0', CTX);
    expect(nan).toEqual({ status: 'invalid', detail: expect.stringContaining('NaN'), query: 'canary_test_temperature * 0 / 0' });
    await expect(source().query('m', '1/0', CTX)).resolves.toEqual({ status: 'invalid', detail: expect.stringContaining('+Inf'), query: '1/0' });
  });

  it('answers error, with the server explanation, for a query Prometheus cannot parse', async () => {
    const reading = await source().query('m', 'sum(', CTX);
    expect(reading).toEqual({ status: 'error', detail: expect.stringContaining('HTTP 400: bad_data'), query: 'sum(' });
  });

  it('carries the query as sent (trimmed) in the reading', async () => {
    await expect(source().query('m', '  canary_test_temperature\n', CTX)).resolves.toEqual({ status: 'ok', value: 21.5, query: 'canary_test_temperature' });
  });

  it('answers a range query with the points of each series', async () => {
    const end = Date.now();
    const reading = await source().queryRange('canary_test_temperature', { start: end - 3_000, end, stepMs: 1_000 });
    expect(reading.status).toBe('ok');
    if (reading.status !== 'ok') return;
    expect(reading.series).toHaveLength(1);
    expect(reading.series[0]?.labels).toEqual(expect.objectContaining({ __name__: 'canary_test_temperature', job: 'target' }));
    expect(reading.series[0]?.points.length).toBeGreaterThanOrEqual(2);
    expect(reading.series[0]?.points.every(([, value]) => value === 21.5)).toBe(true);
  });

  it('answers no-data for a range query that matches nothing', async () => {
    const end = Date.now();
    await expect(source().queryRange('canary_test_absent_metric', { start: end - 3_000, end, stepMs: 1_000 })).resolves.toEqual({ status: 'no-data', query: 'canary_test_absent_metric' });
  });
});

describe('PrometheusMetricSource credentials', () => {
  const TOKEN = 's3cret-token-value';
  const seen: Array<string | undefined> = [];
  let proxyUrl = '';

  /** Forwards to the real Prometheus only when the request carries the expected Authorization header. */
  beforeAll(async () => {
    const expected = new Set([`Bearer ${TOKEN}`, `Basic ${Buffer.from('grafana:pa:ss').toString('base64')}`]);
    const proxy = createServer((req: IncomingMessage, res) => {
      seen.push(req.headers.authorization);
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (!expected.has(req.headers.authorization ?? '')) {
          res.writeHead(401, { 'content-type': 'text/plain' }).end('unauthorized');
          return;
        }
        void fetch(`${promUrl}${req.url ?? '/'}`, {
          method: req.method,
          headers: { 'content-type': req.headers['content-type'] ?? 'text/plain' },
          body: req.method === 'POST' ? Buffer.concat(chunks) : undefined,
        }).then(async (upstream) => {
          res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(await upstream.text());
        });
      });
    });
    proxyUrl = await listen(proxy);
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('sends the bearer token read from the named environment variable', async () => {
    const prom = new PrometheusMetricSource({ type: 'prometheus', url: proxyUrl, auth: { bearerTokenEnv: 'CANARY_TEST_PROM_TOKEN' } }, { CANARY_TEST_PROM_TOKEN: TOKEN });
    await expect(prom.query('m', 'canary_test_temperature', CTX)).resolves.toEqual({ status: 'ok', value: 21.5, query: 'canary_test_temperature' });
    await expect(prom.isOnline()).resolves.toBe(true);
    expect(seen).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('sends basic credentials read from the named environment variables', async () => {
    const prom = new PrometheusMetricSource(
      { type: 'prometheus', url: proxyUrl, auth: { usernameEnv: 'CANARY_TEST_PROM_USER', passwordEnv: 'CANARY_TEST_PROM_PASSWORD' } },
      { CANARY_TEST_PROM_USER: 'grafana', CANARY_TEST_PROM_PASSWORD: 'pa:ss' },
    );
    await expect(prom.query('m', 'canary_test_temperature', CTX)).resolves.toEqual({ status: 'ok', value: 21.5, query: 'canary_test_temperature' });
  });

  it('reads the variable at the moment of the request, so a rotated token is used at once', async () => {
    const env: NodeJS.ProcessEnv = {};
    const prom = new PrometheusMetricSource({ type: 'prometheus', url: proxyUrl, auth: { bearerTokenEnv: 'CANARY_TEST_PROM_TOKEN' } }, env);
    env.CANARY_TEST_PROM_TOKEN = TOKEN;
    await expect(prom.query('m', 'canary_test_temperature', CTX)).resolves.toEqual(expect.objectContaining({ status: 'ok' }));
  });

  it('answers error naming the variable, without calling the server, when it is not set', async () => {
    const prom = new PrometheusMetricSource({ type: 'prometheus', url: proxyUrl, auth: { usernameEnv: 'CANARY_TEST_PROM_USER', passwordEnv: 'CANARY_TEST_PROM_PASSWORD' } }, { CANARY_TEST_PROM_USER: 'grafana' });
    const reading = await prom.query('m', 'canary_test_temperature', CTX);
    expect(reading).toEqual({ status: 'error', detail: expect.stringContaining('environment variable CANARY_TEST_PROM_PASSWORD is not set'), query: 'canary_test_temperature' });
    expect(reading.status === 'error' && reading.detail).not.toContain('grafana');
    await expect(prom.isOnline()).resolves.toBe(false);
    expect(seen).toEqual([]);
  });

  it('answers error naming the variable, never the token, when the server refuses the credentials', async () => {
    const prom = new PrometheusMetricSource({ type: 'prometheus', url: proxyUrl, auth: { bearerTokenEnv: 'CANARY_TEST_PROM_TOKEN' } }, { CANARY_TEST_PROM_TOKEN: 'wrong-token' });
    const reading = await prom.query('m', 'canary_test_temperature', CTX);
    expect(reading).toEqual({ status: 'error', detail: expect.stringContaining('HTTP 401'), query: 'canary_test_temperature' });
    expect(reading.status === 'error' && reading.detail).toContain('CANARY_TEST_PROM_TOKEN');
    expect(reading.status === 'error' && reading.detail).not.toContain('wrong-token');
  });
});

describe('PrometheusMetricSource when the server misbehaves', () => {
  it('answers error when the server does not answer within the timeout', async () => {
    const silent = createServer(() => undefined);
    const url = await listen(silent);
    const reading = await new PrometheusMetricSource({ type: 'prometheus', url, timeout: '300ms' }, {}).query('m', 'up', CTX);
    expect(reading).toEqual({ status: 'error', detail: expect.stringContaining('did not answer within 300 ms'), query: 'up' });
  });

  it('answers error for HTTP 503 with the error Prometheus gave', async () => {
    const failing = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error', errorType: 'unavailable', error: 'TSDB not ready' }));
    });
    const url = await listen(failing);
    const prom = new PrometheusMetricSource({ type: 'prometheus', url }, {});
    await expect(prom.query('m', 'up', CTX)).resolves.toEqual({ status: 'error', detail: expect.stringContaining('HTTP 503: unavailable: TSDB not ready'), query: 'up' });
    await expect(prom.isOnline()).resolves.toBe(false);
  });

  it('answers error when the url is not a Prometheus API', async () => {
    const page = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Grafana</html>');
    });
    const url = await listen(page);
    await expect(new PrometheusMetricSource({ type: 'prometheus', url }, {}).query('m', 'up', CTX)).resolves.toEqual({
      status: 'error',
      detail: expect.stringContaining("did not answer with the Prometheus API's JSON"),
      query: 'up',
    });
  });
});
