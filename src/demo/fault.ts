/**
 * Faults the demo target injects into its canary handler, and the `--fault` option that asks for them:
 * `--fault error-rate=0.05` (5% of canary requests answer HTTP 500), `--fault latency=400ms` (every canary request
 * takes 400 ms longer). The option may be repeated or carry a comma list: `--fault error-rate=0.05,latency=400ms`.
 */
import { tryParseDuration } from '../domain/duration';

/** What goes wrong in the canary; the stable version never fails. An empty object is no fault. */
export interface DemoFault {
  /** Share of canary requests answered with HTTP 500, 0–1. */
  errorRate?: number;
  /** Milliseconds added to every canary request. */
  latencyMs?: number;
}

/** The outcome of parsing `--fault` values: the combined fault, or what is wrong and what to write instead. */
export type FaultParseResult = { ok: true; fault: DemoFault } | { ok: false; error: string };

const USAGE = 'write --fault error-rate=0.05 (a share of 0–1, or 5%) or --fault latency=400ms (a duration such as 250ms or 1s)';

/**
 * Parses `--fault` values into one fault. Each value is a comma-separated list of `name=value` settings; names are
 * `error-rate` and `latency`. Settings combine across values; naming the same setting twice is an error, as are
 * unknown names, missing values, an error rate outside 0–1 (or 0–100%) and a latency that is not a duration.
 * No values give an empty fault.
 */
export function parseFaults(values: readonly string[]): FaultParseResult {
  const fault: DemoFault = {};
  for (const value of values) {
    for (const setting of value.split(',')) {
      const text = setting.trim();
      if (text === '') return { ok: false, error: `--fault ${JSON.stringify(value)}: an empty setting; ${USAGE}` };
      const eq = text.indexOf('=');
      if (eq < 0) return { ok: false, error: `--fault ${JSON.stringify(text)}: expected name=value; ${USAGE}` };
      const name = text.slice(0, eq).trim();
      const raw = text.slice(eq + 1).trim();
      if (raw === '') return { ok: false, error: `--fault ${JSON.stringify(text)}: ${name} has no value; ${USAGE}` };
      switch (name) {
        case 'error-rate': {
          if (fault.errorRate !== undefined) return { ok: false, error: `--fault: error-rate is given twice; give it once` };
          const rate = parseShare(raw);
          if (rate === undefined) {
            return { ok: false, error: `--fault ${JSON.stringify(text)}: error-rate must be a share between 0 and 1 (0.05) or a percentage (5%)` };
          }
          fault.errorRate = rate;
          break;
        }
        case 'latency': {
          if (fault.latencyMs !== undefined) return { ok: false, error: `--fault: latency is given twice; give it once` };
          const ms = tryParseDuration(raw);
          if (ms === undefined) return { ok: false, error: `--fault ${JSON.stringify(text)}: latency must be a duration such as 400ms or 1s` };
          fault.latencyMs = ms;
          break;
        }
        default:
          return { ok: false, error: `--fault ${JSON.stringify(text)}: unknown fault "${name}"; ${USAGE}` };
      }
    }
  }
  return { ok: true, fault };
}

/** True when the fault changes anything (a rate or latency above 0). */
export function hasFault(fault: DemoFault | undefined): boolean {
  return (fault?.errorRate ?? 0) > 0 || (fault?.latencyMs ?? 0) > 0;
}

/** "error rate 5%, +400 ms latency", or "none". */
export function describeFault(fault: DemoFault | undefined): string {
  const parts: string[] = [];
  if ((fault?.errorRate ?? 0) > 0) parts.push(`error rate ${Number(((fault?.errorRate ?? 0) * 100).toFixed(4))}%`);
  if ((fault?.latencyMs ?? 0) > 0) parts.push(`+${fault?.latencyMs} ms latency`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** "0.05" → 0.05, "5%" → 0.05; undefined outside 0–1 or when not a number. */
function parseShare(text: string): number | undefined {
  const percent = text.endsWith('%');
  const number = Number(percent ? text.slice(0, -1) : text);
  if (!/^\d*\.?\d+(?:[eE][+-]?\d+)?%?$/.test(text) || !Number.isFinite(number)) return undefined;
  const share = percent ? number / 100 : number;
  return share >= 0 && share <= 1 ? share : undefined;
}
