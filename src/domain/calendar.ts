/**
 * Calendar constraints of phases, in a named time zone: "≥ 6 hours (or end of day)" and allowed change windows.
 * Pure: uses Intl time-zone data, never the clock.
 */
import type { Millis } from './types';

type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
const WEEKDAYS: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const formatters = new Map<string, Intl.DateTimeFormat>();

const QUARTER_HOUR = 15 * 60_000;
const bucketParts = new Map<string, { day: string; weekday: Weekday; minutes: number }>();

/**
 * Local wall-clock parts of an instant in `timeZone`. Every time-zone offset is a multiple of 15 minutes, so the
 * parts of a quarter hour's first instant give the rest of it; those are cached (Intl formatting is slow, and the
 * machine asks on every tick).
 */
export function localParts(at: Millis, timeZone: string): { day: string; weekday: Weekday; minutes: number } {
  const start = Math.floor(at / QUARTER_HOUR) * QUARTER_HOUR;
  const key = `${timeZone}|${start}`;
  let parts = bucketParts.get(key);
  if (!parts) {
    if (bucketParts.size > 20_000) bucketParts.clear();
    parts = formatParts(start, timeZone);
    bucketParts.set(key, parts);
  }
  return { ...parts, minutes: parts.minutes + Math.floor((at - start) / 60_000) };
}

function formatParts(at: Millis, timeZone: string): { day: string; weekday: Weekday; minutes: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(at))) parts[p.type] = p.value;
  const weekday = (parts.weekday ?? 'Sun').slice(0, 3).toLowerCase() as Weekday;
  return {
    day: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: WEEKDAYS.includes(weekday) ? weekday : 'sun',
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

const clockCache = new Map<string, number>();

function clockMinutes(hhmm: string): number {
  let minutes = clockCache.get(hhmm);
  if (minutes === undefined) {
    const [h, m] = hhmm.split(':').map(Number);
    clockCache.set(hhmm, (minutes = (h ?? 0) * 60 + (m ?? 0)));
  }
  return minutes;
}

/**
 * True once the local end-of-day time has been reached on or after the day the phase started:
 * entered 10:00, endOfDay 18:00 → true from 18:00 that day; entered 19:00 → true from 18:00 the next day.
 */
export function endOfDayReached(enteredAt: Millis, now: Millis, endOfDay: string, timeZone: string): boolean {
  if (now <= enteredAt) return false;
  const start = localParts(enteredAt, timeZone);
  const current = localParts(now, timeZone);
  const eod = clockMinutes(endOfDay);
  if (current.day === start.day) return start.minutes < eod && current.minutes >= eod;
  // A later day: end of day is reached at eod that day, or already passed if the phase spans a whole day.
  return current.minutes >= eod || now - enteredAt >= 24 * 3_600_000;
}

export interface TimeWindowSpec {
  days?: Weekday[];
  from: string;
  to: string;
}

/** True when `at` lies inside one of the windows (a window may wrap midnight: 22:00–06:00). */
export function insideWindows(at: Millis, windows: readonly TimeWindowSpec[], timeZone: string): boolean {
  const local = localParts(at, timeZone);
  return windows.some((w) => {
    if (w.days && !w.days.includes(local.weekday)) return false;
    const from = clockMinutes(w.from);
    const to = clockMinutes(w.to);
    return from < to ? local.minutes >= from && local.minutes < to : local.minutes >= from || local.minutes < to;
  });
}

/** The next instant (minute resolution, within 8 days) at which a window opens; undefined if none. */
export function nextWindowOpening(at: Millis, windows: readonly TimeWindowSpec[], timeZone: string): Millis | undefined {
  const step = 60_000;
  const start = Math.ceil(at / step) * step;
  // Coarse scan by 15 minutes, then refine by the minute: bounded work, no clock.
  for (let t = start; t < start + 8 * 86_400_000; t += 15 * step) {
    if (insideWindows(t, windows, timeZone)) {
      for (let u = Math.max(start, t - 15 * step); u <= t; u += step) if (insideWindows(u, windows, timeZone)) return u;
      return t;
    }
  }
  return undefined;
}

/** The next instant at local time `hhmm` strictly after `at` (for daily tasks). */
export function nextDailyAt(at: Millis, hhmm: string, timeZone: string): Millis {
  // Every instant from the one last asked about up to the answer has the same answer: evaluation ticks ask often.
  const key = `${hhmm}|${timeZone}`;
  const last = dailyCache.get(key);
  if (last && at >= last.from && at < last.next) return last.next;
  const next = computeNextDailyAt(at, hhmm, timeZone);
  dailyCache.set(key, { from: at, next });
  return next;
}

const dailyCache = new Map<string, { from: Millis; next: Millis }>();

/**
 * The next instant strictly after `at` whose local clock in `timeZone` reads `hhmm`, on days the clocks change too
 * ({@link nextDailyAt} adds local minutes as real ones, an hour off on those days; rollouts started before rules v3
 * keep it). On a day that skips `hhmm` (spring forward at 02:30) the instant an hour on is taken.
 */
export function nextLocalTime(at: Millis, hhmm: string, timeZone: string): Millis {
  // Every instant from the one last asked about up to the answer has the same answer: evaluation ticks ask often.
  const key = `${hhmm}|${timeZone}`;
  const last = localTimeCache.get(key);
  if (last && at >= last.from && at < last.next) return last.next;
  const next = computeNextLocalTime(at, hhmm, timeZone);
  localTimeCache.set(key, { from: at, next });
  return next;
}

const localTimeCache = new Map<string, { from: Millis; next: Millis }>();

function computeNextLocalTime(at: Millis, hhmm: string, timeZone: string): Millis {
  const target = clockMinutes(hhmm);
  let candidate = computeNextDailyAt(at, hhmm, timeZone);
  for (let i = 0; i < 2; i++) {
    const diff = target - localParts(candidate, timeZone).minutes;
    if (diff === 0) break;
    const shift = ((((diff + 720) % 1440) + 1440) % 1440) - 720;
    const adjusted = candidate + shift * 60_000;
    if (adjusted <= at) break;
    candidate = adjusted;
  }
  return candidate;
}

function computeNextDailyAt(at: Millis, hhmm: string, timeZone: string): Millis {
  const target = clockMinutes(hhmm);
  const local = localParts(at, timeZone);
  let minutesAhead = target - local.minutes;
  if (minutesAhead <= 0) minutesAhead += 24 * 60;
  // Align to the minute; DST shifts are absorbed by re-checking at the next call.
  return Math.floor(at / 60_000) * 60_000 + minutesAhead * 60_000;
}
