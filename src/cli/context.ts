/**
 * What every command gets: where to write, and the exit code to finish with. Commands write through this context
 * rather than to `process` so tests run the CLI in-process and read what it printed.
 */

/** Exit codes of `canary`: 0 done, 1 refused or failed, 2 usage error or invalid plan. */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Anything text can be written to: `process.stdout`, or a test's collector. */
export interface TextSink {
  write(text: string): unknown;
}

/** The CLI's output streams. */
export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
}

/** Passed to each command's register function; the command sets {@link CliContext.exitCode} when it is not 0. */
export class CliContext {
  exitCode: ExitCode = ExitCode.Ok;

  constructor(readonly io: CliIo) {}

  /** Writes one line to stdout. */
  out(line = ''): void {
    this.io.stdout.write(`${line}\n`);
  }

  /** Writes one line to stderr. */
  err(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  /** Raises the exit code to `code`; a later, milder outcome never lowers it. */
  fail(code: ExitCode): void {
    this.exitCode = Math.max(this.exitCode, code) as ExitCode;
  }
}
