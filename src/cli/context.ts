/**
 * What every command gets: where to write, the environment it reads settings from, a Temporal client made on first
 * use, and the exit code to finish with. Commands write through this context rather than to `process` so tests run
 * the CLI in-process, against their own server, and read what it printed.
 */
import type { Client } from '@temporalio/client';
import { configuredServer, connectClient } from '../client';

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

/** Where a run of the CLI takes its settings from; every field defaults to the process's own. */
export interface CliOptions {
  /**
   * Environment variables: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE … (read by @temporalio/envconfig),
   * CANARY_USER, and the variables `--key-env` names. Default: `process.env`.
   */
  env?: NodeJS.ProcessEnv;
  /** Waits between polls (`canary watch`); tests may shorten it. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** The clock, in epoch ms. Default: `Date.now`. */
  now?: () => number;
  /** Resolves when a long-running command (`api`, `alert-intake`) should stop. Default: SIGINT or SIGTERM. */
  interrupted?: Promise<void>;
}

/** Resolves on the first SIGINT or SIGTERM, then stops listening. */
function processInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** Passed to each command's register function; the command sets {@link CliContext.exitCode} when it is not 0. */
export class CliContext {
  exitCode: ExitCode = ExitCode.Ok;
  readonly env: NodeJS.ProcessEnv;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  private connecting?: Promise<Client>;
  private readonly stopWhen?: Promise<void>;

  constructor(
    readonly io: CliIo,
    options: CliOptions = {},
  ) {
    this.env = options.env ?? process.env;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.stopWhen = options.interrupted;
  }

  /** Waits until a long-running command should stop (SIGINT or SIGTERM unless the caller said otherwise). */
  interrupted(): Promise<void> {
    return this.stopWhen ?? processInterrupted();
  }

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

  /**
   * The Temporal client, connected on first use with the envconfig settings of {@link CliContext.env}. A server that
   * cannot be reached rejects with an error naming the address and the variables that choose it.
   */
  client(): Promise<Client> {
    this.connecting ??= this.connect();
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    return connectClient(this.env).catch((err: unknown) => {
      const server = configuredServer(this.env);
      throw new Error(
        `cannot reach Temporal at ${server.address} (namespace ${server.namespace}): ${(err as Error).message}; ` +
          'set TEMPORAL_ADDRESS (or TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE) to the server to use',
        { cause: err },
      );
    });
  }

  /** Closes the client's connection if one was made; `main` calls it once the command is done. */
  async close(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    if (!connecting) return;
    const client = await connecting.catch(() => undefined);
    await client?.connection.close();
  }
}
