/**
 * The embedded metric source used when no Prometheus is configured: it fetches a service's /metrics itself and
 * answers the scrape query subset (scrape-query.ts, docs/metrics.md) over a short history of its own scrapes.
 *
 * Instances are long-lived — the worker keeps one per scrape target for its whole life (create-metric-source.ts), so a
 * rollout's continue-as-new finds the history its earlier runs built — because rates and quantiles are differences
 * between scrapes taken on earlier calls. The history is bounded in count and age. A source with no usable history (a
 * worker that just started) takes a second scrape a short while after the first before it answers a rate, rather than
 * answering no-data.
 */
import { parseDuration } from '../../domain/duration';
import type { MetricReading, Millis } from '../../domain/types';
import type { Plan } from '../../plan/schema';
import { parseExposition } from './exposition';
import { describeFetchFailure } from './fetch-failure';
import type { MetricQueryContext, MetricSource } from './metric-source';
import { evaluateScrapeQuery, parseScrapeQuery, type Scrape, type ScrapeQuery } from './scrape-query';

/** The plan's `type: scrape` source settings. */
export type ScrapeSourceConfig = Extract<Plan['providers']['metrics'][string], { type: 'scrape' }>;

/** Tuning and test seams for {@link ScrapeMetricSource}; the defaults suit a worker. */
export interface ScrapeSourceOptions {
  /** The /metrics URL. */
  url: string;
  /** A scrape younger than this is reused instead of fetching again (default 0: every query fetches). */
  intervalMs?: number;
  /** How long one fetch may take (default 10 s). */
  timeoutMs?: number;
  /** At most this many scrapes are kept (default 100); when full, the one closest to its neighbours goes. */
  maxScrapes?: number;
  /** Scrapes older than this (relative to the newest) are dropped, unless a query asked for a longer range (default 15 min). */
  retentionMs?: number;
  /** Bodies larger than this are refused (default 16 MiB). */
  maxBodyBytes?: number;
  /**
   * How long a rate with fewer than two scrapes in its window waits for a second scrape before it answers (default: the
   * interval, or 1 s without one; never more than 5 s nor half the query's range). 0 answers no-data at once instead.
   */
  warmUpMs?: number;
  /** The clock that stamps scrapes (default Date.now). */
  now?: () => Millis;
  /** Waits `ms` before the warm-up scrape (default: a real timer). */
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_SCRAPES = 100;
const DEFAULT_RETENTION_MS = 15 * 60_000;
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
const DEFAULT_WARM_UP_MS = 1_000;
// Two fetches (10 s each at most) and this wait fit the observe activity's 30 s start-to-close timeout.
const MAX_WARM_UP_MS = 5_000;

type ScrapeOutcome = { ok: true; scrape: Scrape } | { ok: false; reading: Extract<MetricReading, { status: 'error' | 'invalid' }> };

/**
 * A {@link MetricSource} over one /metrics endpoint. `query` fetches (or reuses a scrape younger than the interval;
 * concurrent queries share one fetch), then evaluates the query over the history:
 * - unreachable target, timeout, non-2xx answer, or a query outside the subset → `error`;
 * - a body that is not the text exposition format, NaN/±Inf where a number is needed, x/0 → `invalid`;
 * - no matching series in the newest scrape (a series that vanished from /metrics is not answered from older scrapes),
 *   only one scrape of a series inside a rate window, 0/0 → `no-data`.
 * A failed fetch is not added to the history, and older scrapes are never used to answer in its place.
 *
 * Cold start: when a query reads a range (rate, increase, a quantile over rates) and the history holds no scrape inside
 * that range before the newest one — a source just built by a worker that started or restarted — the query waits the
 * warm-up time, takes a second scrape (shared by concurrent queries) and answers from the two. The answer still comes
 * from the newest scrape: a series absent from it is no-data, and a failed second fetch answers its error.
 */
export class ScrapeMetricSource implements MetricSource {
  private readonly history: Scrape[] = [];
  private inFlight: Promise<ScrapeOutcome> | undefined;
  private warmingUp: Promise<ScrapeOutcome> | undefined;
  private longestRangeMs = 0;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxScrapes: number;
  private readonly retentionMs: number;
  private readonly maxBodyBytes: number;
  private readonly now: () => Millis;
  private readonly warmUpMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: ScrapeSourceOptions) {
    this.intervalMs = options.intervalMs ?? 0;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxScrapes = Math.max(2, options.maxScrapes ?? DEFAULT_MAX_SCRAPES);
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.now = options.now ?? Date.now;
    this.warmUpMs = options.warmUpMs ?? (this.intervalMs > 0 ? this.intervalMs : DEFAULT_WARM_UP_MS);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Builds a source from the plan's settings (`interval` becomes the reuse interval). */
  static fromConfig(config: ScrapeSourceConfig, options: Omit<ScrapeSourceOptions, 'url' | 'intervalMs'> = {}): ScrapeMetricSource {
    return new ScrapeMetricSource({ ...options, url: config.url, intervalMs: config.interval === undefined ? 0 : parseDuration(config.interval) });
  }

  /** How many scrapes are kept right now (for tests and diagnostics). */
  get scrapeCount(): number {
    return this.history.length;
  }

  async query(_metric: string, query: string, _ctx: MetricQueryContext): Promise<MetricReading> {
    const resolved = query.trim();
    const parsed = parseScrapeQuery(resolved);
    if (!parsed.ok) {
      return { status: 'error', detail: `query ${JSON.stringify(resolved)} is not in the scrape query subset: ${parsed.detail} (see docs/metrics.md, "Scrape queries")`, query: resolved };
    }
    this.longestRangeMs = Math.max(this.longestRangeMs, longestRange(parsed.query));
    const rangeMs = shortestRange(parsed.query);
    let outcome = await this.latestScrape();
    if (outcome.ok && rangeMs > 0 && !this.hasEarlierScrapeWithin(rangeMs)) outcome = await this.warmUp(rangeMs);
    if (!outcome.ok) return { ...outcome.reading, query: resolved };
    return { ...evaluateScrapeQuery(parsed.query, this.history), query: resolved };
  }

  /** True when the endpoint answers with a parseable exposition (the scrape is kept like any other). */
  async isOnline(): Promise<boolean> {
    return (await this.latestScrape()).ok;
  }

  /** True when a scrape before the newest lies within `rangeMs` of it: a window of that length has two points. */
  private hasEarlierScrapeWithin(rangeMs: number): boolean {
    const newest = this.history[this.history.length - 1];
    const previous = this.history[this.history.length - 2];
    return newest !== undefined && previous !== undefined && newest.at - previous.at <= rangeMs;
  }

  /**
   * Takes the second scrape a cold source needs for a rate: after the warm-up time (at most 5 s, and half the range so
   * both scrapes fall inside the window), bypassing the interval's reuse. Concurrent queries share one warm-up.
   */
  private async warmUp(rangeMs: number): Promise<ScrapeOutcome> {
    const waitMs = Math.min(this.warmUpMs, MAX_WARM_UP_MS, rangeMs / 2);
    if (waitMs <= 0) return this.latestScrape();
    this.warmingUp ??= this.sleep(waitMs)
      .then(() => this.sharedFetch())
      .finally(() => {
        this.warmingUp = undefined;
      });
    return this.warmingUp;
  }

  private async latestScrape(): Promise<ScrapeOutcome> {
    const newest = this.history[this.history.length - 1];
    if (newest && this.intervalMs > 0 && this.now() - newest.at < this.intervalMs) return { ok: true, scrape: newest };
    return this.sharedFetch();
  }

  /** Queries of one observation run concurrently: they share one fetch rather than each taking its own. */
  private sharedFetch(): Promise<ScrapeOutcome> {
    this.inFlight ??= this.fetchScrape().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetchScrape(): Promise<ScrapeOutcome> {
    const at = this.now();
    const target = `scrape target ${this.options.url}`;
    let text: string;
    try {
      const response = await fetch(this.options.url, {
        headers: { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return { ok: false, reading: { status: 'error', detail: `${target} answered HTTP ${response.status} ${response.statusText}; check that the url points at the service's /metrics endpoint and that the service is healthy` } };
      }
      const length = Number(response.headers.get('content-length') ?? '0');
      if (length > this.maxBodyBytes) {
        await response.body?.cancel();
        return { ok: false, reading: { status: 'invalid', detail: `${target} exposes ${length} bytes, more than the ${this.maxBodyBytes} bytes a scrape source reads` } };
      }
      text = await response.text();
    } catch (err) {
      return { ok: false, reading: { status: 'error', detail: describeFetchFailure(err, target, this.timeoutMs) } };
    }
    if (text.length > this.maxBodyBytes) {
      return { ok: false, reading: { status: 'invalid', detail: `${target} exposes ${text.length} characters, more than the ${this.maxBodyBytes} a scrape source reads` } };
    }
    const parsed = parseExposition(text);
    if (!parsed.ok) {
      return { ok: false, reading: { status: 'invalid', detail: `${target} did not answer in the Prometheus text format: line ${parsed.line}: ${parsed.detail}` } };
    }
    const scrape: Scrape = { at, samples: parsed.exposition.samples };
    this.remember(scrape);
    return { ok: true, scrape };
  }

  /** Appends a scrape and trims the history by age and count, always keeping the oldest and newest in range. */
  private remember(scrape: Scrape): void {
    // A clock that stepped back must not reorder history: windows assume ascending fetch times.
    while (this.history.length > 0 && this.history[this.history.length - 1]!.at >= scrape.at) this.history.pop();
    this.history.push(scrape);
    const keepFrom = scrape.at - Math.max(this.retentionMs, this.longestRangeMs);
    while (this.history.length > 1 && this.history[0]!.at < keepFrom) this.history.shift();
    while (this.history.length > this.maxScrapes) {
      // Drop the inner scrape whose neighbours are closest together: that loses the least time coverage.
      let drop = 1;
      let narrowest = Infinity;
      for (let i = 1; i < this.history.length - 1; i++) {
        const gap = this.history[i + 1]!.at - this.history[i - 1]!.at;
        if (gap < narrowest) {
          narrowest = gap;
          drop = i;
        }
      }
      this.history.splice(drop, 1);
    }
  }
}

/** The shortest range a query reads (0 for none): every window of the query must hold two scrapes to answer a rate. */
function shortestRange(query: ScrapeQuery): number {
  switch (query.kind) {
    case 'binary': {
      const ranges = [shortestRange(query.left), shortestRange(query.right)].filter((r) => r > 0);
      return ranges.length > 0 ? Math.min(...ranges) : 0;
    }
    default:
      return longestRange(query);
  }
}

/** The longest range a query reads, so retention never drops scrapes a query still needs. */
function longestRange(query: ScrapeQuery): number {
  switch (query.kind) {
    case 'rate':
    case 'increase':
      return query.rangeMs;
    case 'quantile':
      return query.rangeMs ?? 0;
    case 'binary':
      return Math.max(longestRange(query.left), longestRange(query.right));
    default:
      return 0;
  }
}
