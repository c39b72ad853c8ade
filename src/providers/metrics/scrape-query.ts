/**
 * The query language of scrape sources: a small, PromQL-shaped subset evaluated over a short history of scrapes of one
 * service's /metrics (docs/metrics.md, "Scrape queries"). Every query answers ONE number:
 *
 * - `name{label="v",label=~"re"}` — the sum of the matching samples in the newest scrape (gauges);
 * - `rate(name{…}[1m])`, `increase(name{…}[1m])` — counter increase between the oldest scrape inside the window and
 *   the newest (per second for `rate`), summed over the matching series; counter resets are handled;
 * - `histogram_quantile(0.95, name_bucket{…}[1m])` — a quantile from the buckets' increases in the window, linearly
 *   interpolated inside a bucket exactly as Prometheus does (without a range: from the cumulative buckets);
 * - `a / b`, `a * b`, `a + b`, `a - b`, parentheses and number literals; `x / y` with both 0 is no data (nothing
 *   happened), not 0;
 * - `sum(…)` is accepted and changes nothing (every selector already sums its series), so the usual PromQL forms
 *   `sum(rate(a[5m])) / sum(rate(b[5m]))` and `histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))` read the
 *   same here as on a Prometheus server.
 *
 * Only the newest scrape says which series exist: a series it lacks is no data, whatever older scrapes in the window
 * held, so a service that stops exporting a series (or answers an empty body) never passes on its last values.
 *
 * Pure: parsing returns a problem instead of throwing, and evaluation is a function of the query and the scrapes.
 */
import { tryParseDuration } from '../../domain/duration';
import type { MetricReading, Millis } from '../../domain/types';
import type { ExpositionSample } from './exposition';

/** One label matcher; regular expressions are anchored at both ends, as in PromQL. */
export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** A metric name and label matchers. */
export interface SeriesSelector {
  name: string;
  matchers: LabelMatcher[];
}

/** A parsed scrape query. */
export type ScrapeQuery =
  | { kind: 'number'; value: number }
  | { kind: 'gauge'; selector: SeriesSelector }
  | { kind: 'rate' | 'increase'; selector: SeriesSelector; rangeMs: number }
  | { kind: 'quantile'; quantile: number; selector: SeriesSelector; rangeMs?: number }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/'; left: ScrapeQuery; right: ScrapeQuery };

/** The outcome of parsing: the query, or what is wrong and where (1-based column). */
export type ScrapeQueryParseResult = { ok: true; query: ScrapeQuery } | { ok: false; detail: string };

/** One scrape of a /metrics endpoint: when it was fetched and what it exposed. */
export interface Scrape {
  /** Fetch time (epoch ms); windows are measured on these, not on timestamps in the exposition. */
  at: Millis;
  samples: readonly ExpositionSample[];
}

/** A reading as evaluation produces it; the source adds the query text. */
export type ScrapeEvaluation = DistributiveOmit<MetricReading, 'query'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

// ---------------------------------------------------------------------------------------------------------------
// Parsing

type Node =
  | { t: 'num'; value: number }
  | { t: 'sel'; selector: SeriesSelector; rangeMs?: number; range?: string }
  | { t: 'fn'; fn: 'rate' | 'increase'; arg: Node }
  | { t: 'sum'; by?: string[]; arg: Node }
  | { t: 'quantile'; q: Node; arg: Node }
  | { t: 'bin'; op: '+' | '-' | '*' | '/'; left: Node; right: Node };

class QuerySyntaxError extends Error {}

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const NUMBER = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;

/**
 * Parses a scrape query. Problems name the column and what was expected, e.g. `column 6: expected "]" after the
 * range`. Unsupported PromQL (other functions, `by` grouping outside histogram_quantile, offsets) is reported as
 * such rather than silently misread.
 */
export function parseScrapeQuery(text: string): ScrapeQueryParseResult {
  try {
    const parser = new Parser(text);
    const node = parser.parseAll();
    return { ok: true, query: toQuery(node) };
  } catch (err) {
    if (err instanceof QuerySyntaxError) return { ok: false, detail: err.message };
    throw err;
  }
}

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseAll(): Node {
    const node = this.expr();
    this.blanks();
    if (this.pos < this.text.length) this.fail(`unexpected ${JSON.stringify(this.text.slice(this.pos, this.pos + 10))}`);
    return node;
  }

  private expr(): Node {
    let left = this.term();
    for (;;) {
      const op = this.peekOp(['+', '-']);
      if (!op) return left;
      this.pos++;
      left = { t: 'bin', op, left, right: this.term() };
    }
  }

  private term(): Node {
    let left = this.unary();
    for (;;) {
      const op = this.peekOp(['*', '/']);
      if (!op) return left;
      this.pos++;
      left = { t: 'bin', op, left, right: this.unary() };
    }
  }

  private unary(): Node {
    this.blanks();
    if (this.text[this.pos] === '-') {
      this.pos++;
      return { t: 'bin', op: '*', left: { t: 'num', value: -1 }, right: this.unary() };
    }
    return this.primary();
  }

  private primary(): Node {
    this.blanks();
    const ch = this.text[this.pos];
    if (ch === '(') {
      this.pos++;
      const inner = this.expr();
      this.expect(')');
      return inner;
    }
    NUMBER.lastIndex = this.pos;
    const num = NUMBER.exec(this.text);
    if (num) {
      this.pos += num[0].length;
      return { t: 'num', value: Number(num[0]) };
    }
    const name = this.ident();
    if (name === undefined) this.fail(ch === undefined ? 'the query ends where a value was expected' : `unexpected ${JSON.stringify(ch)}`);
    this.blanks();
    if (name === 'sum') return this.sum();
    if (this.text[this.pos] === '(') return this.call(name);
    return this.selector(name);
  }

  private sum(): Node {
    let by = this.grouping();
    this.expect('(');
    const arg = this.expr();
    this.expect(')');
    by ??= this.grouping();
    return { t: 'sum', by, arg };
  }

  private grouping(): string[] | undefined {
    this.blanks();
    const start = this.pos;
    const word = this.ident();
    if (word === undefined) return undefined;
    if (word === 'without') this.fail('sum without (…) is not supported by scrape sources; use sum by (le) inside histogram_quantile only');
    if (word !== 'by') {
      this.pos = start;
      return undefined;
    }
    this.expect('(');
    const labels: string[] = [];
    this.blanks();
    while (this.text[this.pos] !== ')') {
      const label = this.ident();
      if (label === undefined) this.fail('expected a label name in by (…)');
      labels.push(label);
      this.blanks();
      if (this.text[this.pos] === ',') {
        this.pos++;
        this.blanks();
      }
    }
    this.pos++;
    return labels;
  }

  private call(name: string): Node {
    this.expect('(');
    let node: Node;
    if (name === 'rate' || name === 'increase') {
      node = { t: 'fn', fn: name, arg: this.expr() };
    } else if (name === 'histogram_quantile') {
      const q = this.expr();
      this.expect(',');
      node = { t: 'quantile', q, arg: this.expr() };
    } else {
      this.fail(`function ${name}() is not supported by scrape sources; supported: rate, increase, sum, histogram_quantile (docs/metrics.md)`);
    }
    this.expect(')');
    return node;
  }

  private selector(name: string): Node {
    const matchers: LabelMatcher[] = [];
    if (this.text[this.pos] === '{') {
      this.pos++;
      this.blanks();
      while (this.text[this.pos] !== '}') {
        const label = this.ident();
        if (label === undefined) this.fail('expected a label name or "}"');
        this.blanks();
        const op = (['=~', '!~', '!=', '='] as const).find((candidate) => this.text.startsWith(candidate, this.pos));
        if (!op) this.fail(`expected =, !=, =~ or !~ after label ${label}`);
        this.pos += op.length;
        this.blanks();
        const value = this.string();
        if (op === '=~' || op === '!~') {
          try {
            new RegExp(`^(?:${value})$`);
          } catch {
            this.fail(`label ${label}: ${JSON.stringify(value)} is not a valid regular expression`);
          }
        }
        matchers.push({ label, op, value });
        this.blanks();
        if (this.text[this.pos] === ',') {
          this.pos++;
          this.blanks();
        } else if (this.text[this.pos] !== '}') {
          this.fail(`expected "," or "}" after the matcher on ${label}`);
        }
      }
      this.pos++;
    }
    this.blanks();
    if (this.text[this.pos] !== '[') return { t: 'sel', selector: { name, matchers } };
    const close = this.text.indexOf(']', this.pos);
    if (close < 0) this.fail('expected "]" after the range');
    const range = this.text.slice(this.pos + 1, close).trim();
    const rangeMs = tryParseDuration(range);
    if (rangeMs === undefined || rangeMs <= 0) this.fail(`${JSON.stringify(range)} is not a range such as 1m, 30s or 5m`);
    this.pos = close + 1;
    this.blanks();
    if (this.text.startsWith('offset', this.pos)) this.fail('offset is not supported by scrape sources');
    return { t: 'sel', selector: { name, matchers }, rangeMs, range };
  }

  private string(): string {
    const quote = this.text[this.pos];
    if (quote !== '"' && quote !== "'" && quote !== '`') this.fail('expected a quoted label value');
    this.pos++;
    let value = '';
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined) this.fail('unterminated label value');
      this.pos++;
      if (ch === quote) return value;
      if (ch === '\\' && quote !== '`') {
        const next = this.text[this.pos];
        this.pos++;
        const escapes: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'" };
        // Unknown escapes stay as written so regular expressions such as "\\d+" or "\d+" keep working.
        value += next !== undefined && escapes[next] !== undefined ? escapes[next] : `\\${next ?? ''}`;
        continue;
      }
      value += ch;
    }
  }

  private ident(): string | undefined {
    IDENT.lastIndex = this.pos;
    const match = IDENT.exec(this.text);
    if (!match) return undefined;
    this.pos += match[0].length;
    return match[0];
  }

  private peekOp<T extends string>(ops: T[]): T | undefined {
    this.blanks();
    return ops.find((op) => this.text[this.pos] === op);
  }

  private expect(token: string): void {
    this.blanks();
    if (this.text[this.pos] !== token) this.fail(`expected ${JSON.stringify(token)}`);
    this.pos++;
  }

  private blanks(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos] ?? '')) this.pos++;
  }

  private fail(message: string): never {
    throw new QuerySyntaxError(`column ${this.pos + 1}: ${message}`);
  }
}

/** Checks where each construct may appear and turns the syntax tree into a {@link ScrapeQuery}. */
function toQuery(node: Node): ScrapeQuery {
  switch (node.t) {
    case 'num':
      return { kind: 'number', value: node.value };
    case 'sel':
      if (node.rangeMs !== undefined) {
        throw new QuerySyntaxError(`${node.selector.name}[${node.range}] is a range: wrap it in rate(), increase() or histogram_quantile()`);
      }
      return { kind: 'gauge', selector: node.selector };
    case 'fn': {
      const arg = node.arg;
      if (arg.t !== 'sel' || arg.rangeMs === undefined) throw new QuerySyntaxError(`${node.fn}() takes a range selector such as ${node.fn}(requests_total[1m])`);
      return { kind: node.fn, selector: arg.selector, rangeMs: arg.rangeMs };
    }
    case 'sum':
      if (node.by !== undefined) {
        throw new QuerySyntaxError(`sum by (${node.by.join(', ')}) gives several series but a scrape query answers one number; drop the grouping (by (le) belongs inside histogram_quantile)`);
      }
      return toQuery(node.arg);
    case 'quantile':
      return toQuantile(node.q, node.arg);
    case 'bin':
      return { kind: 'binary', op: node.op, left: toQuery(node.left), right: toQuery(node.right) };
  }
}

function toQuantile(qNode: Node, argNode: Node): ScrapeQuery {
  if (qNode.t !== 'num' || !(qNode.value >= 0 && qNode.value <= 1)) {
    throw new QuerySyntaxError('histogram_quantile() takes a number between 0 and 1 first, e.g. histogram_quantile(0.95, latency_bucket[5m])');
  }
  let arg = argNode;
  if (arg.t === 'sum') {
    if (arg.by === undefined || arg.by.length !== 1 || arg.by[0] !== 'le') {
      throw new QuerySyntaxError('inside histogram_quantile() a sum must keep the buckets apart: sum by (le) (…)');
    }
    arg = arg.arg;
  }
  if (arg.t === 'fn') arg = arg.arg.t === 'sel' && arg.arg.rangeMs !== undefined ? arg.arg : arg;
  if (arg.t !== 'sel') {
    throw new QuerySyntaxError('histogram_quantile() takes bucket series such as latency_bucket[5m] or rate(latency_bucket[5m])');
  }
  return { kind: 'quantile', quantile: qNode.value, selector: arg.selector, ...(arg.rangeMs !== undefined ? { rangeMs: arg.rangeMs } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/**
 * Evaluates a query over scrapes ordered oldest first. No scrape, no matching series in the NEWEST scrape (even when
 * older scrapes had one), fewer than two scrapes of a series inside a window, no observations in a histogram and 0/0
 * are `no-data`; NaN/±Inf samples, x/0 with x ≠ 0, a histogram without a `+Inf` bucket and bucket series without an
 * `le` label are `invalid`.
 */
export function evaluateScrapeQuery(query: ScrapeQuery, scrapes: readonly Scrape[]): ScrapeEvaluation {
  switch (query.kind) {
    case 'number':
      return { status: 'ok', value: query.value };
    case 'gauge':
      return gauge(query.selector, scrapes);
    case 'rate':
    case 'increase':
      return counterIncrease(query.selector, query.rangeMs, scrapes, query.kind === 'rate');
    case 'quantile':
      return quantile(query, scrapes);
    case 'binary':
      return binary(query.op, evaluateScrapeQuery(query.left, scrapes), evaluateScrapeQuery(query.right, scrapes));
  }
}

/** Formats a selector the way it was (or could have been) written, for details. */
export function formatSelector(selector: SeriesSelector): string {
  if (selector.matchers.length === 0) return selector.name;
  return `${selector.name}{${selector.matchers.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(',')}}`;
}

function gauge(selector: SeriesSelector, scrapes: readonly Scrape[]): ScrapeEvaluation {
  const newest = scrapes[scrapes.length - 1];
  if (!newest) return { status: 'no-data' };
  const matching = select(selector, newest.samples);
  if (matching.length === 0) return { status: 'no-data' };
  const bad = matching.find((s) => !Number.isFinite(s.value));
  if (bad) return { status: 'invalid', detail: `${formatSeries(bad)} is ${bad.value} in the latest scrape` };
  return { status: 'ok', value: matching.reduce((sum, s) => sum + s.value, 0) };
}

function counterIncrease(selector: SeriesSelector, rangeMs: number, scrapes: readonly Scrape[], perSecond: boolean): ScrapeEvaluation {
  const histories = seriesInWindow(selector, rangeMs, scrapes);
  if (typeof histories === 'string') return { status: 'invalid', detail: histories };
  let total = 0;
  let counted = 0;
  for (const points of histories.values()) {
    const first = points[0];
    const last = points[points.length - 1];
    if (!first || !last || last.at <= first.at) continue;
    const increase = increaseOf(points);
    total += perSecond ? increase / ((last.at - first.at) / 1000) : increase;
    counted++;
  }
  return counted === 0 ? { status: 'no-data' } : { status: 'ok', value: total };
}

function quantile(query: Extract<ScrapeQuery, { kind: 'quantile' }>, scrapes: readonly Scrape[]): ScrapeEvaluation {
  const counts = new Map<number, number>();
  const add = (sample: ExpositionSample, count: number): string | undefined => {
    const le = sample.labels.le;
    if (le === undefined) return `${formatSeries(sample)} has no le label; histogram_quantile() reads the _bucket series of a histogram`;
    const bound = parseBound(le);
    if (bound === undefined) return `${formatSeries(sample)} has an le label that is not a number`;
    counts.set(bound, (counts.get(bound) ?? 0) + count);
    return undefined;
  };
  if (query.rangeMs === undefined) {
    const newest = scrapes[scrapes.length - 1];
    for (const sample of newest ? select(query.selector, newest.samples) : []) {
      if (!Number.isFinite(sample.value)) return { status: 'invalid', detail: `${formatSeries(sample)} is ${sample.value} in the latest scrape` };
      const problem = add(sample, sample.value);
      if (problem) return { status: 'invalid', detail: problem };
    }
  } else {
    const histories = seriesInWindow(query.selector, query.rangeMs, scrapes);
    if (typeof histories === 'string') return { status: 'invalid', detail: histories };
    for (const points of histories.values()) {
      if (points.length < 2) continue;
      const problem = add(points[0]!.sample, increaseOf(points));
      if (problem) return { status: 'invalid', detail: problem };
    }
  }
  if (counts.size === 0) return { status: 'no-data' };
  const buckets = [...counts.entries()].map(([upperBound, count]) => ({ upperBound, count })).sort((a, b) => a.upperBound - b.upperBound);
  return bucketQuantile(query.quantile, buckets, formatSelector(query.selector));
}

/**
 * Prometheus's bucketQuantile: find the bucket the rank falls in and interpolate linearly inside it (from 0 for the
 * first bucket when its bound is positive); a rank in the +Inf bucket answers the highest finite bound.
 */
function bucketQuantile(q: number, buckets: Array<{ upperBound: number; count: number }>, series: string): ScrapeEvaluation {
  const last = buckets[buckets.length - 1];
  if (!last || last.upperBound !== Infinity) return { status: 'invalid', detail: `${series} has no le="+Inf" bucket, so the total count is unknown` };
  if (buckets.length < 2) return { status: 'invalid', detail: `${series} has only the +Inf bucket; a quantile needs at least one finite bucket` };
  // Counts must not decrease with the bound; scrapes taken while a histogram is being updated can break that slightly.
  for (let i = 1; i < buckets.length; i++) buckets[i]!.count = Math.max(buckets[i]!.count, buckets[i - 1]!.count);
  const observations = last.count;
  if (observations === 0) return { status: 'no-data' };
  let rank = q * observations;
  let b = buckets.findIndex((bucket) => bucket.count >= rank);
  if (b < 0) b = buckets.length - 1;
  const samples = Math.round(observations);
  if (b === buckets.length - 1) return { status: 'ok', value: buckets[buckets.length - 2]!.upperBound, samples };
  const bucket = buckets[b]!;
  if (b === 0 && bucket.upperBound <= 0) return { status: 'ok', value: bucket.upperBound, samples };
  let start = 0;
  let count = bucket.count;
  if (b > 0) {
    const previous = buckets[b - 1]!;
    start = previous.upperBound;
    count -= previous.count;
    rank -= previous.count;
  }
  return { status: 'ok', value: start + (bucket.upperBound - start) * (rank / count), samples };
}

function binary(op: '+' | '-' | '*' | '/', left: ScrapeEvaluation, right: ScrapeEvaluation): ScrapeEvaluation {
  // A source error outweighs bad data, which outweighs missing data: the most actionable outcome wins.
  for (const status of ['error', 'invalid', 'no-data'] as const) {
    if (left.status === status) return left;
    if (right.status === status) return right;
  }
  if (left.status !== 'ok' || right.status !== 'ok') return { status: 'no-data' };
  let value: number;
  if (op === '/') {
    if (right.value === 0) {
      // 0/0 means nothing happened in the window (no requests, no errors): there is no rate to judge.
      if (left.value === 0) return { status: 'no-data' };
      return { status: 'invalid', detail: `division by zero: the divisor is 0 while the dividend is ${left.value}` };
    }
    value = left.value / right.value;
  } else {
    value = op === '+' ? left.value + right.value : op === '-' ? left.value - right.value : left.value * right.value;
  }
  if (!Number.isFinite(value)) return { status: 'invalid', detail: `the result is ${value}` };
  return { status: 'ok', value };
}

interface Point {
  at: Millis;
  value: number;
  sample: ExpositionSample;
}

/**
 * The points inside the window (newest fetch time − range, newest] of the matching series that the NEWEST scrape
 * exposes, by series identity. A series absent from the newest scrape is left out even if older scrapes in the window
 * have it: the service no longer reports it, and its last values must not answer for now. So every series' points
 * start and end at real samples of it, the last one from the newest scrape. Returns a problem description when a
 * point of such a series is NaN or infinite (a counter never is).
 */
function seriesInWindow(selector: SeriesSelector, rangeMs: number, scrapes: readonly Scrape[]): Map<string, Point[]> | string {
  const series = new Map<string, Point[]>();
  const newest = scrapes[scrapes.length - 1];
  if (!newest) return series;
  const current = new Set(select(selector, newest.samples).map(seriesKey));
  const from = newest.at - rangeMs;
  for (const scrape of scrapes) {
    if (scrape.at < from) continue;
    for (const sample of select(selector, scrape.samples)) {
      const key = seriesKey(sample);
      if (!current.has(key)) continue;
      if (!Number.isFinite(sample.value)) return `${formatSeries(sample)} is ${sample.value} in the scrape at ${new Date(scrape.at).toISOString()}`;
      const points = series.get(key) ?? [];
      points.push({ at: scrape.at, value: sample.value, sample });
      series.set(key, points);
    }
  }
  return series;
}

/** The increase of a counter over its points; a drop is a restart from zero, so the new value is all increase. */
function increaseOf(points: readonly Point[]): number {
  let increase = 0;
  for (let i = 1; i < points.length; i++) {
    const previous = points[i - 1]!.value;
    const current = points[i]!.value;
    increase += current >= previous ? current - previous : current;
  }
  return increase;
}

function select(selector: SeriesSelector, samples: readonly ExpositionSample[]): ExpositionSample[] {
  const regexes = selector.matchers.map((m) => (m.op === '=~' || m.op === '!~' ? new RegExp(`^(?:${m.value})$`) : undefined));
  return samples.filter(
    (sample) =>
      sample.name === selector.name &&
      selector.matchers.every((m, i) => {
        // An absent label matches the empty string, as in PromQL.
        const actual = sample.labels[m.label] ?? '';
        switch (m.op) {
          case '=':
            return actual === m.value;
          case '!=':
            return actual !== m.value;
          case '=~':
            return regexes[i]!.test(actual);
          case '!~':
            return !regexes[i]!.test(actual);
        }
      }),
  );
}

function seriesKey(sample: ExpositionSample): string {
  const labels = Object.keys(sample.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(sample.labels[k])}`);
  return `${sample.name}{${labels.join(',')}}`;
}

function formatSeries(sample: ExpositionSample): string {
  return seriesKey(sample).replace(/\{\}$/, '');
}

function parseBound(le: string): number | undefined {
  const lower = le.trim().toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  const value = Number(le);
  return le.trim() !== '' && Number.isFinite(value) ? value : undefined;
}
