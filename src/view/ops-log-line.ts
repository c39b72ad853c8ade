/**
 * One ops-log entry as one line of text, for `canary watch` and `npm start`: time, phase and percent, the decision,
 * its reason, who caused it and the metric values behind it.
 */
import type { OpsLogEntry } from '../domain/types';

/**
 * `08:00:05Z canary 5%  advance  <reason> — by <actor> [metric=value, …]`. The time is UTC time of day; the actor
 * and the metrics are left out when the entry has none. `since`, when given, adds the offset from it (`+1m5s`)
 * instead of the time of day, so a README shows a run independent of when it happened.
 */
export function renderOpsLogLine(entry: OpsLogEntry, options: { since?: number } = {}): string {
  const when = options.since === undefined ? new Date(entry.at).toISOString().slice(11, 19) + 'Z' : offset(entry.at - options.since);
  const metrics = entry.metrics && Object.keys(entry.metrics).length > 0
    ? ` [${Object.entries(entry.metrics).map(([name, value]) => `${name}=${typeof value === 'number' && !Number.isInteger(value) ? +value.toPrecision(4) : value}`).join(', ')}]`
    : '';
  return `${when} ${entry.phase} ${entry.percent}%  ${entry.action}  ${entry.reason}${entry.actor ? ` — by ${entry.actor}` : ''}${metrics}`;
}

function offset(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `+${m > 0 ? `${m}m` : ''}${s}s`.padStart(7);
}
