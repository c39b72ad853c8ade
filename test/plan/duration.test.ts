import fc from 'fast-check';
import { formatDuration, parseDuration, tryParseDuration } from '../../src/domain/duration';

describe('durations as plans write them', () => {
  test.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['7d', 604_800_000],
    ['1d6h', 108_000_000],
    ['0', 0],
  ])('"%s" is %d milliseconds', (text, ms) => {
    expect(tryParseDuration(text)).toBe(ms);
    expect(parseDuration(text)).toBe(ms);
  });

  test.each([
    ['five minutes'],
    ['5'],
    ['30m1h'],
    ['1h1h'],
    [''],
    ['   '],
    ['5 m'],
    ['-5m'],
    ['5min'],
    ['1h 30m'],
    ['.5h'],
  ])('"%s" is not a duration', (text) => {
    expect(tryParseDuration(text)).toBeUndefined();
    expect(() => parseDuration(text)).toThrow(new RangeError(`expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got ${JSON.stringify(text)}`));
  });

  test('surrounding spaces are ignored', () => {
    expect(tryParseDuration(' 5m ')).toBe(300_000);
  });

  test.each([
    [5_400_000, '1h30m'],
    [108_000_000, '1d6h'],
    [90_000, '1m30s'],
    [500, '500ms'],
    [0, '0s'],
    [86_400_000 + 1_000 + 1, '1d1s1ms'],
  ])('%d milliseconds are written "%s"', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test('a formatted duration parses back to the same milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
      { numRuns: 500 },
    );
  });

  test('every accepted duration formats to a canonical form that means the same time', () => {
    for (const text of ['90s', '5m', '2h', '1d', '1h30m', '500ms', '1.5h']) {
      const ms = parseDuration(text);
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
