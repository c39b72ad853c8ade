/**
 * A parser for the Prometheus text exposition format (version 0.0.4), the body a service answers on `/metrics`:
 *
 * ```
 * # HELP http_requests_total Requests served.
 * # TYPE http_requests_total counter
 * http_requests_total{method="post",code="200"} 1027 1395066363000
 * http_request_duration_seconds_bucket{le="+Inf"} 144320
 * ```
 *
 * Pure: text in, samples out. A malformed line makes the whole body unusable (as it does for Prometheus itself), and
 * the outcome says which line and why instead of throwing.
 */

/** The metric types a `# TYPE` line may declare. */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

/** One sample line: a series (name and labels) and its value. */
export interface ExpositionSample {
  name: string;
  /** Label values with escapes resolved (`\\`, `\"`, `\n`). */
  labels: Record<string, string>;
  /** May be NaN or ±Infinity: the format allows them, and callers decide whether that is usable. */
  value: number;
  /** The optional timestamp at the end of the line, in epoch milliseconds. */
  timestampMs?: number;
}

/** A parsed body: every sample in order, plus what `# TYPE` and `# HELP` lines declared per metric family. */
export interface Exposition {
  samples: ExpositionSample[];
  types: Record<string, MetricType>;
  help: Record<string, string>;
}

/** The parse outcome: the exposition, or the first problem found with its 1-based line number. */
export type ExpositionParseResult =
  | { ok: true; exposition: Exposition }
  | { ok: false; line: number; detail: string };

const METRIC_TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const WHOLE_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/**
 * Parses a text exposition body. Blank lines and comments other than `# HELP` / `# TYPE` are ignored (so is an
 * OpenMetrics-style `# EOF`); lines may end in `\r\n`. Values accept the Go float spellings Prometheus writes,
 * including `NaN`, `+Inf` and `-Inf`; a trailing integer is the sample's timestamp in milliseconds. Duplicate label
 * names, unterminated label values, unknown escapes and unknown `# TYPE` values are reported as problems.
 */
export function parseExposition(text: string): ExpositionParseResult {
  const samples: ExpositionSample[] = [];
  const types: Record<string, MetricType> = {};
  const help: Record<string, string> = {};
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? '').replace(/\r$/, '');
    const lineNumber = index + 1;
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      const problem = parseComment(trimmed, types, help);
      if (problem !== undefined) return { ok: false, line: lineNumber, detail: problem };
      continue;
    }
    const parsed = parseSampleLine(trimmed);
    if (typeof parsed === 'string') return { ok: false, line: lineNumber, detail: parsed };
    samples.push(parsed);
  }
  return { ok: true, exposition: { samples, types, help } };
}

/** Records `# HELP` and `# TYPE`; returns a problem description for a malformed one. Other comments are ignored. */
function parseComment(line: string, types: Record<string, MetricType>, help: Record<string, string>): string | undefined {
  const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
  if (!match) return undefined;
  const [, keyword, name = '', rest = ''] = match;
  if (!WHOLE_METRIC_NAME.test(name)) return `# ${keyword} names an invalid metric name ${JSON.stringify(name)}`;
  if (keyword === 'HELP') {
    help[name] = unescapeHelp(rest);
    return undefined;
  }
  const type = rest.trim() as MetricType;
  if (!METRIC_TYPES.includes(type)) return `# TYPE ${name} declares unknown type ${JSON.stringify(rest.trim())}; expected one of ${METRIC_TYPES.join(', ')}`;
  types[name] = type;
  return undefined;
}

/** HELP text escapes only backslash and newline. */
function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_all, ch: string) => (ch === 'n' ? '\n' : '\\'));
}

/** Parses `name{labels} value [timestamp]`; returns a problem description when the line is malformed. */
function parseSampleLine(line: string): ExpositionSample | string {
  const nameMatch = METRIC_NAME.exec(line);
  if (!nameMatch) return `expected a metric name at the start of ${JSON.stringify(line)}`;
  const name = nameMatch[0];
  let pos = name.length;
  let labels: Record<string, string> = {};
  pos = skipBlanks(line, pos);
  if (line[pos] === '{') {
    const parsed = parseLabels(line, pos + 1);
    if (typeof parsed === 'string') return `${name}: ${parsed}`;
    labels = parsed.labels;
    pos = parsed.end;
  }
  const rest = line.slice(pos).trim().split(/[ \t]+/);
  if (rest.length === 0 || rest[0] === '') return `${name}: expected a value after the series`;
  if (rest.length > 2) return `${name}: expected "value [timestamp]", found ${JSON.stringify(line.slice(pos).trim())}`;
  const value = parseValue(rest[0] ?? '');
  if (value === undefined) return `${name}: ${JSON.stringify(rest[0])} is not a number`;
  const sample: ExpositionSample = { name, labels, value };
  if (rest[1] !== undefined) {
    if (!INTEGER.test(rest[1])) return `${name}: timestamp ${JSON.stringify(rest[1])} is not an integer number of milliseconds`;
    sample.timestampMs = Number(rest[1]);
  }
  return sample;
}

/** Parses the label set after `{` up to and including `}`. Whitespace around names, `=` and commas is tolerated. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } | string {
  const labels: Record<string, string> = {};
  let pos = skipBlanks(line, start);
  while (line[pos] !== '}') {
    const labelMatch = LABEL_NAME.exec(line.slice(pos));
    if (!labelMatch) return `expected a label name or "}" at column ${pos + 1}`;
    const labelName = labelMatch[0];
    pos = skipBlanks(line, pos + labelName.length);
    if (line[pos] !== '=') return `expected "=" after label ${labelName}`;
    pos = skipBlanks(line, pos + 1);
    if (line[pos] !== '"') return `expected a quoted value for label ${labelName}`;
    pos++;
    let value = '';
    for (;;) {
      const ch = line[pos];
      if (ch === undefined) return `label ${labelName} has an unterminated value`;
      if (ch === '"') break;
      if (ch === '\\') {
        const next = line[pos + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else return `label ${labelName} has an unknown escape "\\${next ?? ''}"`;
        pos += 2;
        continue;
      }
      value += ch;
      pos++;
    }
    if (Object.prototype.hasOwnProperty.call(labels, labelName)) return `label ${labelName} appears twice`;
    labels[labelName] = value;
    pos = skipBlanks(line, pos + 1);
    if (line[pos] === ',') pos = skipBlanks(line, pos + 1);
    else if (line[pos] !== '}') return `expected "," or "}" after label ${labelName}`;
  }
  return { labels, end: pos + 1 };
}

/** Go's float spellings as Prometheus writes them: decimals, exponents, NaN and ±Inf (case-insensitive). */
export function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return FLOAT.test(text) ? Number(text) : undefined;
}

function skipBlanks(line: string, pos: number): number {
  while (line[pos] === ' ' || line[pos] === '\t') pos++;
  return pos;
}
