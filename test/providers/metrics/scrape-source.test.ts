import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetricSource } from '../../../src/providers/metrics/create-metric-source';
import type { MetricQueryContext } from '../../../src/providers/metrics/metric-source';
import { PrometheusMetricSource } from '../../../src/providers/metrics/prometheus-source';
import { parseScrapeQuery } from '../../../src/providers/metrics/scrape-query';
import { ScrapeMetricSource } from '../../../src/providers/metrics/scrape-source';
import { describeMetricSourceContract } from './metric-source.contract';

/** A /metrics endpoint whose body and status the test sets, counting how often it is fetched. */
interface Target {
  url: string;
  body: string;
  status: number;
  fetches: number;
  server: Server;
}

async function startTarget(body = ''): Promise<Target> {
  const target = { body, status: 200, fetches: 0 } as Target;
  target.server = createServer((_req, res) => {
    target.fetches++;
    res.writeHead(target.status, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(target.body);
  });
  await new Promise<void>((resolve) => target.server.listen(0, '127.0.0.1', resolve));
  target.url = `http://127.0.0.1:${(target.server.address() as AddressInfo).port}/metrics`;
  return target;
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/metrics`;
}

const CTX: MetricQueryContext = { at: 0, rolloutStartedAt: 0 };
const T0 = Date.parse('2026-01-14T08:00:00Z');

/**
 * A source over `target` with a hand-driven clock. The history is the test's own: no cold-start warm-up unless asked
 * for (`warmUpMs`), and then its wait moves the hand clock and runs `duringWarmUp` (to change the body) instead of sleeping.
 */
function sourceOn(target: Target, options: { intervalMs?: number; maxScrapes?: number; retentionMs?: number; warmUpMs?: number; duringWarmUp?: () => void } = {}) {
  const clock = { now: T0 };
  const waits: number[] = [];
  const { duringWarmUp, ...settings } = options;
  const sleep = async (ms: number) => {
    waits.push(ms);
    clock.now += ms;
    duringWarmUp?.();
  };
  const source = new ScrapeMetricSource({ url: target.url, now: () => clock.now, warmUpMs: 0, sleep, ...settings });
  /** Serves `body`, moves the clock to `atSeconds` after T0 and queries. */
  const scrapeAt = async (atSeconds: number, body: string, query: string) => {
    target.body = body;
    clock.now = T0 + atSeconds * 1000;
    return source.query('m', query, CTX);
  };
  return { source, clock, scrapeAt, waits };
}

const targets: Target[] = [];
async function target(body = ''): Promise<Target> {
  const started = await startTarget(body);
  targets.push(started);
  return started;
}

afterAll(async () => {
  await Promise.all(targets.map((t) => new Promise<void>((resolve) => t.server.close(() => resolve()))));
});

describeMetricSourceContract('ScrapeMetricSource', {
  healthy: async () => ({ source: new ScrapeMetricSource({ url: (await target('canary_test_temperature 21.5\n')).url }), query: 'canary_test_temperature', expected: 21.5 }),
  noData: async () => ({ source: new ScrapeMetricSource({ url: (await target('canary_test_temperature 21.5\n')).url }), query: 'missing_metric{job="x"}' }),
  badData: async () => ({ source: new ScrapeMetricSource({ url: (await target('broken_gauge NaN\n')).url }), query: 'broken_gauge' }),
  down: async () => ({ source: new ScrapeMetricSource({ url: await closedPortUrl(), timeoutMs: 2_000 }), query: 'canary_test_temperature' }),
});

describe('ScrapeMetricSource gauges', () => {
  const body = ['requests_in_flight{pod="a",route="/checkout"} 3', 'requests_in_flight{pod="b",route="/checkout"} 4', 'requests_in_flight{pod="c",route="/health"} 10'].join('\n');

  it.each([
    ['requests_in_flight', 17],
    ['requests_in_flight{route="/checkout"}', 7],
    ['requests_in_flight{route!="/checkout"}', 10],
    ['requests_in_flight{pod=~"a|c"}', 13],
    ['requests_in_flight{pod!~"a|c"}', 4],
    ['requests_in_flight{route="/checkout", pod="b"}', 4],
    ['sum(requests_in_flight{route=~"/check.*"})', 7],
    ['requests_in_flight{route="/checkout"} * 100 / 2', 350],
  ])('answers %s with the sum of the matching samples (%d)', async (query, expected) => {
    const { scrapeAt } = sourceOn(await target());
    await expect(scrapeAt(0, body, query)).resolves.toEqual({ status: 'ok', value: expected, query });
  });

  it('matches a label that is absent as the empty string, as PromQL does', async () => {
    const { scrapeAt } = sourceOn(await target());
    await expect(scrapeAt(0, 'up 1\nup{zone="eu"} 2', 'up{zone=""}')).resolves.toEqual({ status: 'ok', value: 1, query: 'up{zone=""}' });
  });

  it('carries the trimmed query in the reading', async () => {
    const { scrapeAt } = sourceOn(await target());
    await expect(scrapeAt(0, 'up 1', '  up \n')).resolves.toEqual({ status: 'ok', value: 1, query: 'up' });
  });

  it('answers invalid when a matching sample is +Inf', async () => {
    const { scrapeAt } = sourceOn(await target());
    const reading = await scrapeAt(0, 'latency_ms{pod="a"} +Inf', 'latency_ms');
    expect(reading).toEqual({ status: 'invalid', detail: 'latency_ms{pod="a"} is Infinity in the latest scrape', query: 'latency_ms' });
  });
});

describe('ScrapeMetricSource rates', () => {
  it('answers no-data after the first scrape when told not to wait for a second one (warmUpMs: 0)', async () => {
    const { scrapeAt } = sourceOn(await target(), { warmUpMs: 0 });
    await expect(scrapeAt(0, 'requests_total 100', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'no-data', query: 'rate(requests_total[1m])' });
  });

  it('answers the per-second increase between two scrapes', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'requests_total 100', 'rate(requests_total[1m])');
    await expect(scrapeAt(30, 'requests_total 160', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 2, query: 'rate(requests_total[1m])' });
    await expect(scrapeAt(40, 'requests_total 170', 'increase(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 70, query: 'increase(requests_total[1m])' });
  });

  it('measures from the oldest scrape inside the window, not from older ones', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'requests_total 100', 'up');
    await scrapeAt(30, 'requests_total 130', 'up');
    // The window [30s, 90s] holds the scrapes at 30s and 90s: (220 - 130) / 60 s.
    await expect(scrapeAt(90, 'requests_total 220', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 1.5, query: 'rate(requests_total[1m])' });
  });

  it('counts a drop in a counter as a restart from zero', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'requests_total 100', 'up');
    await scrapeAt(10, 'requests_total 150', 'up');
    // 100 → 150 is +50; 150 → 20 is a restart, so +20.
    await expect(scrapeAt(20, 'requests_total 20', 'increase(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 70, query: 'increase(requests_total[1m])' });
  });

  it('sums the rates of the matching series and ignores a series seen only once in the window', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'http_requests_total{code="200"} 0\nhttp_requests_total{code="500"} 0', 'up');
    const reading = await scrapeAt(10, 'http_requests_total{code="200"} 90\nhttp_requests_total{code="500"} 10\nhttp_requests_total{code="503"} 5', 'rate(http_requests_total[1m])');
    expect(reading).toEqual({ status: 'ok', value: 10, query: 'rate(http_requests_total[1m])' });
  });

  it('answers an error rate as the ratio of two rates', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))';
    await scrapeAt(0, 'http_requests_total{code="200"} 1000\nhttp_requests_total{code="500"} 10', query);
    const reading = await scrapeAt(30, 'http_requests_total{code="200"} 1950\nhttp_requests_total{code="500"} 60', query);
    expect(reading.status).toBe('ok');
    expect(reading.status === 'ok' && reading.value).toBeCloseTo(0.05, 10);
  });

  it('answers no-data, not 0, for a ratio when nothing happened in the window (0/0)', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'rate(errors_total[1m]) / rate(requests_total[1m])';
    await scrapeAt(0, 'errors_total 5\nrequests_total 100', query);
    await expect(scrapeAt(30, 'errors_total 5\nrequests_total 100', query)).resolves.toEqual({ status: 'no-data', query });
  });

  it('answers invalid for errors over zero requests (x/0)', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'increase(errors_total[1m]) / increase(requests_total[1m])';
    await scrapeAt(0, 'errors_total 5\nrequests_total 100', query);
    const reading = await scrapeAt(30, 'errors_total 7\nrequests_total 100', query);
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('division by zero'), query });
  });
});

describe('ScrapeMetricSource histogram quantiles', () => {
  const histogram = (counts: [number, number, number, number]) =>
    [
      '# TYPE latency_seconds histogram',
      `latency_seconds_bucket{route="/checkout",le="0.1"} ${counts[0]}`,
      `latency_seconds_bucket{route="/checkout",le="0.5"} ${counts[1]}`,
      `latency_seconds_bucket{route="/checkout",le="1"} ${counts[2]}`,
      `latency_seconds_bucket{route="/checkout",le="+Inf"} ${counts[3]}`,
      `latency_seconds_count{route="/checkout"} ${counts[3]}`,
    ].join('\n');

  it.each([
    // Increases in the window: ≤0.1: 50, ≤0.5: 90, ≤1: 100, +Inf: 100.
    ['histogram_quantile(0.95, latency_seconds_bucket[1m])', 0.75],
    ['histogram_quantile(0.5, rate(latency_seconds_bucket{route="/checkout"}[1m]))', 0.1],
    ['histogram_quantile(0.7, sum by (le) (rate(latency_seconds_bucket[1m])))', 0.3],
    ['histogram_quantile(0.7, sum(rate(latency_seconds_bucket[1m])) by (le))', 0.3],
  ])('answers %s by linear interpolation inside the bucket (%d)', async (query, expected) => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, histogram([1000, 2000, 3000, 3000]), query);
    const reading = await scrapeAt(30, histogram([1050, 2090, 3100, 3100]), query);
    expect(reading).toEqual({ status: 'ok', value: expect.any(Number), samples: 100, query });
    expect(reading.status === 'ok' && reading.value).toBeCloseTo(expected, 10);
  });

  it('answers the highest finite bound when the quantile falls into the +Inf bucket', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'histogram_quantile(0.99, latency_seconds_bucket[1m])';
    await scrapeAt(0, histogram([0, 0, 0, 0]), query);
    await expect(scrapeAt(30, histogram([50, 90, 100, 110]), query)).resolves.toEqual({ status: 'ok', value: 1, samples: 110, query });
  });

  it('answers from the cumulative buckets when the query has no range', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'histogram_quantile(0.95, latency_seconds_bucket)';
    await expect(scrapeAt(0, histogram([50, 90, 100, 100]), query)).resolves.toEqual({ status: 'ok', value: 0.75, samples: 100, query });
  });

  it('answers no-data when nothing was observed in the window', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'histogram_quantile(0.95, latency_seconds_bucket[1m])';
    await scrapeAt(0, histogram([50, 90, 100, 100]), query);
    await expect(scrapeAt(30, histogram([50, 90, 100, 100]), query)).resolves.toEqual({ status: 'no-data', query });
  });

  it('answers invalid when the histogram has no +Inf bucket', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'histogram_quantile(0.95, latency_seconds_bucket)';
    const reading = await scrapeAt(0, 'latency_seconds_bucket{le="0.1"} 5\nlatency_seconds_bucket{le="1"} 9', query);
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('+Inf'), query });
  });

  it('answers invalid when the selected series have no le label', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'histogram_quantile(0.95, latency_seconds_count)';
    const reading = await scrapeAt(0, histogram([50, 90, 100, 100]), query);
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('no le label'), query });
  });
});

describe('ScrapeMetricSource fetching and history', () => {
  it('reuses a scrape younger than the interval and fetches again after it', async () => {
    const t = await target('up 1');
    const { source, clock } = sourceOn(t, { intervalMs: 10_000 });
    await source.query('m', 'up', CTX);
    clock.now += 5_000;
    await source.query('m', 'up', CTX);
    expect(t.fetches).toBe(1);
    clock.now += 5_000;
    await source.query('m', 'up', CTX);
    expect(t.fetches).toBe(2);
  });

  it('shares one fetch among concurrent queries', async () => {
    const t = await target('up 1\nrequests_total 5');
    const { source } = sourceOn(t);
    const readings = await Promise.all([source.query('a', 'up', CTX), source.query('b', 'requests_total', CTX), source.isOnline()]);
    expect(readings).toEqual([{ status: 'ok', value: 1, query: 'up' }, { status: 'ok', value: 5, query: 'requests_total' }, true]);
    expect(t.fetches).toBe(1);
  });

  it('answers error when the target answers HTTP 500, and does not fall back to older scrapes', async () => {
    const t = await target('up 1');
    const { source, clock } = sourceOn(t);
    await source.query('m', 'up', CTX);
    t.status = 500;
    clock.now += 1_000;
    const reading = await source.query('m', 'up', CTX);
    expect(reading).toEqual({ status: 'error', detail: expect.stringContaining('answered HTTP 500'), query: 'up' });
    await expect(source.isOnline()).resolves.toBe(false);
  });

  it('answers invalid, naming the line, when the body is not the text exposition format', async () => {
    const { scrapeAt } = sourceOn(await target());
    const reading = await scrapeAt(0, 'up 1\n<html>oops</html>', 'up');
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('line 2'), query: 'up' });
  });

  it('answers error, pointing to the docs, for a query outside the subset', async () => {
    const t = await target('up 1');
    const reading = await sourceOn(t).source.query('m', 'avg_over_time(up[5m])', CTX);
    expect(reading).toEqual({ status: 'error', detail: expect.stringContaining('avg_over_time() is not supported'), query: 'avg_over_time(up[5m])' });
    expect(reading.status === 'error' && reading.detail).toContain('docs/metrics.md');
    expect(t.fetches).toBe(0);
  });

  it('keeps at most maxScrapes scrapes, keeping the oldest so long windows still reach back', async () => {
    const { source, scrapeAt } = sourceOn(await target(), { maxScrapes: 5 });
    for (let second = 0; second < 20; second++) await scrapeAt(second, `requests_total ${second * 10}`, 'up');
    expect(source.scrapeCount).toBe(5);
    await expect(scrapeAt(20, 'requests_total 200', 'increase(requests_total[1h])')).resolves.toEqual({ status: 'ok', value: 200, query: 'increase(requests_total[1h])' });
  });

  it('drops scrapes older than the retention unless a query asked for a longer range', async () => {
    const t = await target();
    const short = sourceOn(t, { retentionMs: 60_000 });
    await short.scrapeAt(0, 'up 1', 'up');
    await short.scrapeAt(30, 'up 1', 'up');
    await short.scrapeAt(120, 'up 1', 'up');
    expect(short.source.scrapeCount).toBe(1);

    const long = sourceOn(t, { retentionMs: 60_000 });
    await long.scrapeAt(0, 'requests_total 0', 'rate(requests_total[5m])');
    await long.scrapeAt(30, 'requests_total 30', 'up');
    await expect(long.scrapeAt(120, 'requests_total 120', 'rate(requests_total[5m])')).resolves.toEqual({ status: 'ok', value: 1, query: 'rate(requests_total[5m])' });
    expect(long.source.scrapeCount).toBe(3);
  });
});

describe('ScrapeMetricSource when /metrics stops exposing a series', () => {
  const errorRate = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))';
  const requests = (ok: number, failed: number) => `http_requests_total{code="200"} ${ok}\nhttp_requests_total{code="500"} ${failed}`;

  it('answers no-data for a rate when the counter is absent from the newest scrape, though older scrapes in the window have it', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'requests_total 100\nup 1', 'up');
    await scrapeAt(10, 'requests_total 120\nup 1', 'up');
    await expect(scrapeAt(11, 'up 1', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'no-data', query: 'rate(requests_total[1m])' });
    await expect(scrapeAt(12, 'up 1', 'increase(requests_total[1m])')).resolves.toEqual({ status: 'no-data', query: 'increase(requests_total[1m])' });
  });

  it('answers no-data for an error rate when the service still answers 200 but its body becomes empty', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, requests(1000, 10), errorRate);
    await expect(scrapeAt(30, requests(1950, 60), errorRate)).resolves.toEqual({ status: 'ok', value: expect.any(Number), query: errorRate });
    // 1.5 s into the outage the window still holds two good scrapes; they must not answer for the empty one.
    await expect(scrapeAt(31.5, '', errorRate)).resolves.toEqual({ status: 'no-data', query: errorRate });
  });

  it('answers no-data for an error rate when only the error counter vanishes from the newest scrape', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, requests(1000, 10), errorRate);
    await scrapeAt(10, requests(1100, 20), errorRate);
    await expect(scrapeAt(11, 'http_requests_total{code="200"} 1110', errorRate)).resolves.toEqual({ status: 'no-data', query: errorRate });
  });

  it('answers no-data for an error rate when the request counter vanishes from the newest scrape', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'rate(errors_total[1m]) / rate(requests_total[1m])';
    await scrapeAt(0, 'errors_total 5\nrequests_total 100', query);
    await scrapeAt(10, 'errors_total 6\nrequests_total 200', query);
    await expect(scrapeAt(11, 'errors_total 6', query)).resolves.toEqual({ status: 'no-data', query });
  });

  it('sums only the series present in the newest scrape, each measured between its own samples', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'requests_total{pod="a"} 0\nrequests_total{pod="b"} 0', 'up');
    await scrapeAt(10, 'requests_total{pod="a"} 10\nrequests_total{pod="b"} 500', 'up');
    // Pod b is gone from the newest scrape: only pod a's 20 requests in 20 s count.
    await expect(scrapeAt(20, 'requests_total{pod="a"} 20', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 1, query: 'rate(requests_total[1m])' });
  });

  it('answers again once the series is back, measured from real samples of it', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'requests_total 100', 'up');
    await expect(scrapeAt(10, '', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'no-data', query: 'rate(requests_total[1m])' });
    // The window's endpoints are the samples at 0 s and 20 s; the empty scrape between them adds nothing.
    await expect(scrapeAt(20, 'requests_total 140', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 2, query: 'rate(requests_total[1m])' });
  });

  it('answers no-data for a gauge absent from the newest scrape', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'checkout_error_rate 0.001', 'checkout_error_rate');
    await expect(scrapeAt(1, '', 'checkout_error_rate')).resolves.toEqual({ status: 'no-data', query: 'checkout_error_rate' });
  });

  it('answers no-data for a histogram quantile when the buckets vanish from the newest scrape', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'histogram_quantile(0.95, sum by (le) (rate(latency_seconds_bucket[1m])))';
    const buckets = (n: number) => `latency_seconds_bucket{le="0.1"} ${n}\nlatency_seconds_bucket{le="+Inf"} ${2 * n}`;
    await scrapeAt(0, buckets(0), query);
    await expect(scrapeAt(10, buckets(50), query)).resolves.toEqual(expect.objectContaining({ status: 'ok' }));
    await expect(scrapeAt(11, 'up 1', query)).resolves.toEqual({ status: 'no-data', query });
    await expect(scrapeAt(12, 'up 1', 'histogram_quantile(0.95, latency_seconds_bucket)')).resolves.toEqual({ status: 'no-data', query: 'histogram_quantile(0.95, latency_seconds_bucket)' });
  });

  it('answers invalid, not a rate from older scrapes, when the newest body is not the exposition format', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, requests(1000, 10), errorRate);
    await scrapeAt(10, requests(1100, 20), errorRate);
    const reading = await scrapeAt(11, '<html><body>Service Unavailable</body></html>', errorRate);
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('did not answer in the Prometheus text format'), query: errorRate });
  });

  it('answers invalid when a counter is NaN in the newest scrape, also inside a ratio', async () => {
    const { scrapeAt } = sourceOn(await target());
    const query = 'rate(errors_total[1m]) / rate(requests_total[1m])';
    await scrapeAt(0, 'errors_total 5\nrequests_total 100', query);
    await scrapeAt(10, 'errors_total 6\nrequests_total 200', query);
    const reading = await scrapeAt(11, 'errors_total 6\nrequests_total NaN', query);
    expect(reading).toEqual({ status: 'invalid', detail: expect.stringContaining('requests_total is NaN'), query });
    await expect(scrapeAt(12, 'errors_total NaN\nrequests_total 210', 'increase(errors_total[1m])')).resolves.toEqual(expect.objectContaining({ status: 'invalid' }));
  });

  it('counts a counter reset in the middle of the window as a restart from zero', async () => {
    const { scrapeAt } = sourceOn(await target());
    await scrapeAt(0, 'requests_total 100', 'up');
    await scrapeAt(10, 'requests_total 150', 'up');
    await scrapeAt(20, 'requests_total 5', 'up');
    // +50, then a restart (+5), then +25: 80 requests in 30 s.
    await expect(scrapeAt(30, 'requests_total 30', 'increase(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 80, query: 'increase(requests_total[1m])' });
    await expect(scrapeAt(30, 'requests_total 30', 'rate(requests_total[1m])')).resolves.toEqual({ status: 'ok', value: 80 / 30, query: 'rate(requests_total[1m])' });
  });

  it('never answers from older scrapes when the fetch fails: HTTP errors and a target that went away', async () => {
    const t = await startTarget();
    const { scrapeAt, source } = sourceOn(t, { intervalMs: 5_000 });
    await scrapeAt(0, requests(1000, 10), errorRate);
    await expect(scrapeAt(10, requests(1100, 20), errorRate)).resolves.toEqual(expect.objectContaining({ status: 'ok' }));
    t.status = 503;
    await expect(scrapeAt(20, requests(1200, 30), errorRate)).resolves.toEqual({ status: 'error', detail: expect.stringContaining('answered HTTP 503'), query: errorRate });
    // A failed fetch is not a scrape: the next read fetches again instead of falling back to the last good one.
    await expect(scrapeAt(21, requests(1200, 30), errorRate)).resolves.toEqual(expect.objectContaining({ status: 'error' }));
    expect(t.fetches).toBe(4);
    await new Promise<void>((resolve) => t.server.close(() => resolve()));
    await expect(scrapeAt(30, requests(1300, 40), errorRate)).resolves.toEqual({ status: 'error', detail: expect.any(String), query: errorRate });
    await expect(source.isOnline()).resolves.toBe(false);
    expect(source.scrapeCount).toBe(2);
  });
});

describe('ScrapeMetricSource on a cold start (a worker that just started or restarted)', () => {
  const errorRate = 'sum(rate(http_requests_total{code=~"5.."}[10s])) / sum(rate(http_requests_total[10s]))';
  const requests = (ok: number, failed: number) => `http_requests_total{code="200"} ${ok}\nhttp_requests_total{code="500"} ${failed}`;

  it('answers a rate on its first query, from a second scrape taken after the warm-up wait', async () => {
    const t = await target();
    const { scrapeAt, waits } = sourceOn(t, { warmUpMs: 1_000, duringWarmUp: () => (t.body = 'requests_total 150') });
    await expect(scrapeAt(0, 'requests_total 100', 'rate(requests_total[10s])')).resolves.toEqual({ status: 'ok', value: 50, query: 'rate(requests_total[10s])' });
    expect(waits).toEqual([1_000]);
    expect(t.fetches).toBe(2);
  });

  it('waits the interval by default, bypassing the reuse of a scrape younger than it', async () => {
    const t = await target();
    const { source, clock, waits } = sourceOn(t, { intervalMs: 2_000, warmUpMs: undefined, duringWarmUp: () => (t.body = requests(1040, 10)) });
    t.body = requests(1000, 0);
    await expect(source.query('m', errorRate, CTX)).resolves.toEqual({ status: 'ok', value: 0.2, query: errorRate });
    expect(waits).toEqual([2_000]);
    expect(t.fetches).toBe(2);
    // Warm now: the next query inside the window answers at once, over all three scrapes (10 errors of 80 requests).
    clock.now += 2_000;
    t.body = requests(1070, 10);
    await expect(source.query('m', errorRate, CTX)).resolves.toEqual({ status: 'ok', value: 0.125, query: errorRate });
    expect(waits).toEqual([2_000]);
  });

  it('waits at most half the range, so both scrapes fall inside the window, and never more than 5 s', async () => {
    const t = await target('requests_total 1');
    const { source, waits } = sourceOn(t, { warmUpMs: 5_000 });
    await source.query('m', 'increase(requests_total[2s])', CTX);
    expect(waits).toEqual([1_000]);
    const slow = sourceOn(t, { intervalMs: 60_000, warmUpMs: undefined });
    await slow.source.query('m', 'rate(requests_total[5m])', CTX);
    expect(slow.waits).toEqual([5_000]);
  });

  it('waits 1 s by default without an interval, and shares one warm-up among concurrent queries', async () => {
    const t = await target(requests(1000, 0));
    const { source, waits } = sourceOn(t, { warmUpMs: undefined, duringWarmUp: () => (t.body = requests(1010, 0)) });
    const readings = await Promise.all([source.query('a', errorRate, CTX), source.query('b', 'sum(rate(http_requests_total[10s]))', CTX), source.query('c', 'http_requests_total', CTX)]);
    // The gauge needs no second scrape: it answers from the first without waiting.
    expect(readings.map((r) => r.status === 'ok' && r.value)).toEqual([0, 10, 1000]);
    expect(waits).toEqual([1_000]);
    expect(t.fetches).toBe(2);
  });

  it('does not wait for gauges, nor for a rate whose window already holds a previous scrape', async () => {
    const t = await target('requests_total 1');
    const { scrapeAt, waits } = sourceOn(t, { warmUpMs: 1_000 });
    await scrapeAt(0, 'requests_total 1', 'requests_total');
    expect(waits).toEqual([]);
    await expect(scrapeAt(5, 'requests_total 11', 'rate(requests_total[10s])')).resolves.toEqual({ status: 'ok', value: 2, query: 'rate(requests_total[10s])' });
    expect(waits).toEqual([]);
  });

  it('waits again when the previous scrape lies outside the window (the rate would have one point)', async () => {
    const t = await target();
    const { scrapeAt, waits } = sourceOn(t, { warmUpMs: 1_000, duringWarmUp: () => (t.body = 'requests_total 30') });
    await scrapeAt(0, 'requests_total 1', 'requests_total');
    await expect(scrapeAt(60, 'requests_total 10', 'increase(requests_total[10s])')).resolves.toEqual({ status: 'ok', value: 20, query: 'increase(requests_total[10s])' });
    expect(waits).toEqual([1_000]);
  });

  it('still answers no-data when the series is absent from the second scrape: never from the first alone', async () => {
    const t = await target();
    const { scrapeAt } = sourceOn(t, { warmUpMs: 1_000, duringWarmUp: () => (t.body = 'other_total 5') });
    await expect(scrapeAt(0, requests(1000, 10), errorRate)).resolves.toEqual({ status: 'no-data', query: errorRate });
  });

  it('answers the error of a failed second fetch, not a value from the first scrape', async () => {
    const t = await target();
    const { scrapeAt, source } = sourceOn(t, { warmUpMs: 1_000, duringWarmUp: () => (t.status = 503) });
    await expect(scrapeAt(0, requests(1000, 10), errorRate)).resolves.toEqual({ status: 'error', detail: expect.stringContaining('answered HTTP 503'), query: errorRate });
    expect(source.scrapeCount).toBe(1);
  });

  it('waits for real with the default sleep, and the rate comes from two real scrapes', async () => {
    let requestsSoFar = 0;
    const t = await target();
    t.server.removeAllListeners('request');
    t.server.on('request', (_req, res) => {
      requestsSoFar += 100;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`requests_total ${requestsSoFar}\n`);
    });
    const source = new ScrapeMetricSource({ url: t.url, intervalMs: 200 });
    const started = Date.now();
    const reading = await source.query('m', 'rate(requests_total[10s])', CTX);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(reading).toEqual({ status: 'ok', value: expect.any(Number), query: 'rate(requests_total[10s])' });
    expect(reading.status === 'ok' && reading.value).toBeGreaterThan(0);
  });
});

describe('parseScrapeQuery', () => {
  it.each([
    ['rate(requests_total)', 'takes a range selector'],
    ['requests_total[5m]', 'wrap it in rate()'],
    ['sum by (code) (requests_total)', 'drop the grouping'],
    ['histogram_quantile(1.5, latency_bucket[5m])', 'between 0 and 1'],
    ['histogram_quantile(0.9, sum(rate(latency_bucket[5m])))', 'sum by (le)'],
    ['requests_total{code="5.."', 'expected "," or "}"'],
    ['requests_total{code=~"("}', 'not a valid regular expression'],
    ['rate(requests_total[5x])', 'is not a range'],
    ['requests_total offset 5m', 'unexpected'],
    ['up +', 'the query ends'],
  ])('rejects %s, saying what is wrong', (query, detail) => {
    const result = parseScrapeQuery(query);
    expect(result).toEqual({ ok: false, detail: expect.stringContaining(detail) });
  });
});

describe('createMetricSource', () => {
  it('keeps one scrape source per name and url, so its history survives between calls', async () => {
    const t = await target('requests_total 100');
    const env = {};
    const config = { type: 'scrape' as const, url: t.url };
    const first = createMetricSource('svc', config, env);
    expect(first).toBeInstanceOf(ScrapeMetricSource);
    await first?.query('m', 'rate(requests_total[1h])', CTX);
    t.body = 'requests_total 160';
    // Scrapes are stamped with the wall clock here: let it move past the first scrape's millisecond.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const again = createMetricSource('svc', { ...config }, env);
    expect(again).toBe(first);
    const reading = await again?.query('m', 'increase(requests_total[1h])', CTX);
    expect(reading).toEqual({ status: 'ok', value: 60, query: 'increase(requests_total[1h])' });
  });

  it('gives another url or another interval its own instance, and shares one between names that read the same url', () => {
    const env = {};
    const a = createMetricSource('svc', { type: 'scrape', url: 'http://127.0.0.1:1/metrics' }, env);
    expect(createMetricSource('svc', { type: 'scrape', url: 'http://127.0.0.1:2/metrics' }, env)).not.toBe(a);
    expect(createMetricSource('svc', { type: 'scrape', url: 'http://127.0.0.1:1/metrics', interval: '5s' }, env)).not.toBe(a);
    expect(createMetricSource('other', { type: 'scrape', url: 'http://127.0.0.1:1/metrics' }, env)).toBe(a);
    expect(createMetricSource('svc', { url: 'http://127.0.0.1:1/metrics', type: 'scrape' }, env)).toBe(a);
  });

  it('builds a Prometheus source for prometheus and leaves scenario sources to the worker', () => {
    expect(createMetricSource('prom', { type: 'prometheus', url: 'http://127.0.0.1:9090' }, {})).toBeInstanceOf(PrometheusMetricSource);
    expect(createMetricSource('sim', { type: 'scenario' }, {})).toBeUndefined();
  });
});
