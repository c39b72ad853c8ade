/**
 * Durations as plans write them: one or more `<number><unit>` parts, largest unit first — "90s", "5m", "2h", "1d",
 * "1h30m", "1.5h", "500ms", "7d". Parsed the same way everywhere (plans, scenarios, CLI flags) and converted to
 * milliseconds, the unit the rollout machine and Temporal timers use.
 */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const ORDER: Unit[] = ['d', 'h', 'm', 's', 'ms'];
const PART = /(\d+(?:\.\d+)?)(ms|d|h|m|s)/y;

/** A duration string that {@link parseDuration} accepts. */
export type DurationString = string;

/** Returns the duration in milliseconds, or undefined when `text` is not a duration. */
export function tryParseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (trimmed === '0') return 0;
  PART.lastIndex = 0;
  let total = 0;
  let lastRank = -1;
  while (PART.lastIndex < trimmed.length) {
    const start = PART.lastIndex;
    const match = PART.exec(trimmed);
    if (!match || match.index !== start) return undefined;
    const unit = match[2] as Unit;
    const rank = ORDER.indexOf(unit);
    // Units must go from largest to smallest, each at most once: "1h30m", not "30m1h" or "1h1h".
    if (rank <= lastRank) return undefined;
    lastRank = rank;
    total += Number(match[1]) * UNIT_MS[unit];
  }
  return Math.round(total);
}

/** Returns the duration in milliseconds; throws a RangeError naming the expected form otherwise. */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) {
    throw new RangeError(`expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got ${JSON.stringify(text)}`);
  }
  return ms;
}

/** Formats milliseconds the way plans write them: 5400000 → "1h30m", 0 → "0s". */
export function formatDuration(ms: number): DurationString {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  let out = '';
  for (const unit of ORDER) {
    const size = UNIT_MS[unit];
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return sign + out;
}
