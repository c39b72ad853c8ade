import { parseExposition, type Exposition } from '../../../src/providers/metrics/exposition';

function parsed(text: string): Exposition {
  const result = parseExposition(text);
  if (!result.ok) throw new Error(`expected the exposition to parse, got line ${result.line}: ${result.detail}`);
  return result.exposition;
}

describe('parseExposition', () => {
  it('reads HELP, TYPE, labelled samples and bare samples', () => {
    const exposition = parsed(
      [
        '# HELP http_requests_total The total number of HTTP requests.',
        '# TYPE http_requests_total counter',
        'http_requests_total{method="post",code="200"} 1027',
        'http_requests_total{method="post",code="400"}    3',
        '',
        '# TYPE process_open_fds gauge',
        'process_open_fds 12',
      ].join('\n'),
    );
    expect(exposition.types).toEqual({ http_requests_total: 'counter', process_open_fds: 'gauge' });
    expect(exposition.help).toEqual({ http_requests_total: 'The total number of HTTP requests.' });
    expect(exposition.samples).toEqual([
      { name: 'http_requests_total', labels: { method: 'post', code: '200' }, value: 1027 },
      { name: 'http_requests_total', labels: { method: 'post', code: '400' }, value: 3 },
      { name: 'process_open_fds', labels: {}, value: 12 },
    ]);
  });

  it('resolves escaped backslashes, quotes and newlines in label values', () => {
    const [sample] = parsed('msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9').samples;
    expect(sample?.labels).toEqual({ path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
    expect(sample?.value).toBe(1.458255915e9);
  });

  it('keeps a label value that contains braces, commas and spaces intact', () => {
    const [sample] = parsed('weird{a="x, y} z",b="="} 1').samples;
    expect(sample?.labels).toEqual({ a: 'x, y} z', b: '=' });
  });

  it('reads histogram buckets including le="+Inf" and the _sum and _count series', () => {
    const exposition = parsed(
      [
        '# TYPE http_request_duration_seconds histogram',
        'http_request_duration_seconds_bucket{le="0.05"} 24054',
        'http_request_duration_seconds_bucket{le="0.1"} 33444',
        'http_request_duration_seconds_bucket{le="+Inf"} 144320',
        'http_request_duration_seconds_sum 53423',
        'http_request_duration_seconds_count 144320',
      ].join('\n'),
    );
    expect(exposition.types.http_request_duration_seconds).toBe('histogram');
    expect(exposition.samples.map((s) => [s.name, s.labels.le, s.value])).toEqual([
      ['http_request_duration_seconds_bucket', '0.05', 24054],
      ['http_request_duration_seconds_bucket', '0.1', 33444],
      ['http_request_duration_seconds_bucket', '+Inf', 144320],
      ['http_request_duration_seconds_sum', undefined, 53423],
      ['http_request_duration_seconds_count', undefined, 144320],
    ]);
  });

  it('reads NaN, +Inf and -Inf values', () => {
    const values = parsed('a NaN\nb +Inf\nc -Inf\nd 1e-3').samples.map((s) => s.value);
    expect(values[0]).toBeNaN();
    expect(values.slice(1)).toEqual([Infinity, -Infinity, 0.001]);
  });

  it('reads an optional timestamp in milliseconds', () => {
    expect(parsed('http_requests_total{code="200"} 1027 1395066363000').samples[0]).toEqual({
      name: 'http_requests_total',
      labels: { code: '200' },
      value: 1027,
      timestampMs: 1395066363000,
    });
  });

  it('ignores plain comments, blank lines, CRLF line ends, a trailing comma in labels and # EOF', () => {
    const exposition = parsed('# just a comment\r\n\r\nup{job="x",} 1\r\n# EOF\r\n');
    expect(exposition.samples).toEqual([{ name: 'up', labels: { job: 'x' }, value: 1 }]);
  });

  it('unescapes HELP text', () => {
    expect(parsed('# HELP m first line\\nsecond \\\\ line\nm 1').help.m).toBe('first line\nsecond \\ line');
  });

  it.each([
    ['a value that is not a number', 'up{job="x"} abc', 1, 'is not a number'],
    ['a missing value', 'up{job="x"}', 1, 'expected a value'],
    ['an unterminated label value', 'ok 1\nup{job="x} 1', 2, 'unterminated'],
    ['a label without a quoted value', 'up{job=x} 1', 1, 'quoted value'],
    ['a duplicate label name', 'up{job="a",job="b"} 1', 1, 'appears twice'],
    ['an unknown escape in a label value', 'up{job="a\\tb"} 1', 1, 'unknown escape'],
    ['a timestamp that is not an integer', 'up 1 12.5', 1, 'timestamp'],
    ['extra fields after the timestamp', 'up 1 2 3', 1, 'value [timestamp]'],
    ['an unknown TYPE', '# TYPE up thermometer\nup 1', 1, 'unknown type'],
    ['a sample that does not start with a metric name', '{job="x"} 1', 1, 'metric name'],
  ])('reports %s with its line number', (_what, text, line, detail) => {
    const result = parseExposition(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.line).toBe(line);
      expect(result.detail).toContain(detail);
    }
  });

  it('parses an empty body as no samples', () => {
    expect(parsed('')).toEqual({ samples: [], types: {}, help: {} });
  });
});
