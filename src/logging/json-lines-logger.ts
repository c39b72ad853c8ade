/**
 * Structured logs for long-running processes (the worker): one JSON object per line, so a log shipper (Loki, Cloud
 * Logging, `jq`) reads each event as a record. Implements the Temporal SDK's `Logger`, so the SDK runtime, workflow and
 * activity loggers, and the process's own events all write the same lines.
 *
 * A line is `{"time": ISO-8601, "level": "info", "msg": "…", …metadata}`. Imports only Node built-ins and
 * Temporal types.
 */
import type { Logger, LogLevel, LogMetadata } from '@temporalio/common';

/** Log levels in increasing severity, as the Temporal SDK names them. */
export const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/** Anything a line can be written to: `process.stderr`, or a test's collector. */
export interface LineSink {
  write(text: string): unknown;
}

/** The level named by `text` in any case ("info", "WARN"), or undefined when it names none. */
export function parseLogLevel(text: string): LogLevel | undefined {
  const upper = text.trim().toUpperCase();
  return (LOG_LEVELS as readonly string[]).includes(upper) ? (upper as LogLevel) : undefined;
}

/**
 * Writes events at `level` and above as JSON lines to `sink`.
 *
 * - `time`, `level` (lower case) and `msg` always come first and are never overwritten by metadata of the same name
 *   (such a field is kept as `meta.<name>`).
 * - Errors become `{name, message, stack}`; bigints become strings; functions and symbols are left out; a value that
 *   refers to itself is written as "[circular]". A line never spans two lines: JSON escapes every newline.
 * - Writing never throws: a sink that fails loses the line, not the process.
 */
export class JsonLinesLogger implements Logger {
  private readonly threshold: number;

  constructor(
    readonly level: LogLevel,
    private readonly sink: LineSink,
    private readonly now: () => number = Date.now,
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (LOG_LEVELS.indexOf(level) < this.threshold) return;
    const line: Record<string, unknown> = { time: new Date(this.now()).toISOString(), level: level.toLowerCase(), msg: message };
    for (const [key, value] of Object.entries(meta ?? {})) {
      line[key in line ? `meta.${key}` : key] = value;
    }
    try {
      this.sink.write(`${JSON.stringify(line, jsonSafe())}\n`);
    } catch {
      // A closed or broken stream cannot be told about itself.
    }
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }

  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }

  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }

  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }

  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** A JSON.stringify replacer for arbitrary metadata: errors, bigints and cycles. */
function jsonSafe(): (this: unknown, key: string, value: unknown) => unknown {
  const ancestors: unknown[] = [];
  return function (this: unknown, _key: string, value: unknown) {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
    if (typeof value !== 'object' || value === null) return value;
    // `this` is the object holding `value`: drop the ancestors that are not on the path to it.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(value)) return '[circular]';
    ancestors.push(value);
    return value;
  };
}
