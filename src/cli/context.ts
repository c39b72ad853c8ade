/**
 * What every command gets: where to write, the environment it reads settings from, a Temporal client made on first
 * use, and the exit code to finish with. Commands write through this context rather than to `process` so tests run
 * the CLI in-process, against their own server, and read what it printed.
 */
import { isGrpcDeadlineError, type Client } from '@temporalio/client';
import { CONNECT_TIMEOUT_MS, configuredServer, connectClient, type ConfiguredServer } from '../client';
import { connectionEnv, type ConnectionFlags } from './connection-options';

/** Exit codes of `canary`: 0 done, 1 refused or failed, 2 usage error or invalid plan. */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Anything text can be written to: `process.stdout`, or a test's collector. */
export interface TextSink {
  write(text: string): unknown;
  /** True for a terminal (process.stdout on a TTY): live views redraw in place there. */
  isTTY?: boolean;
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
  /** How long connecting may take before the server counts as unreachable. Default {@link CONNECT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
  /** How long a query may wait for the rollout's worker to answer. Default {@link QUERY_TIMEOUT_MS}. */
  queryTimeoutMs?: number;
  /** How long an update (approve, pause …) may wait for the rollout to decide. Default {@link UPDATE_TIMEOUT_MS}. */
  updateTimeoutMs?: number;
}

/**
 * How long a query may take once a worker is known to poll: a worker answers from memory between workflow tasks, in
 * well under a second; this only ends the wait on a worker that polls but does not answer (it stopped within the
 * last minute, or it is stuck).
 */
export const QUERY_TIMEOUT_MS = 10_000;

/**
 * How long an update may take once a worker is known to poll. The rollout answers after its loop has taken the
 * message in, which can wait for a flag write in progress (those time out after 10 s); this leaves room for that.
 */
export const UPDATE_TIMEOUT_MS = 30_000;

/** How long a call only the server answers (describe, list, start, fetch a history page) may take. */
export const SERVER_TIMEOUT_MS = 15_000;

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
  readonly queryTimeoutMs: number;
  readonly updateTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private connection: ConnectionFlags = {};
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
    this.connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.queryTimeoutMs = options.queryTimeoutMs ?? QUERY_TIMEOUT_MS;
    this.updateTimeoutMs = options.updateTimeoutMs ?? UPDATE_TIMEOUT_MS;
  }

  /** Takes the connection flags the command was given (called before its action; see connection-options.ts). */
  useConnection(flags: ConnectionFlags): void {
    this.connection = flags;
  }

  /**
   * The environment with the connection flags written over the TEMPORAL_* variables they stand for: what envconfig
   * reads, here and in a worker this process starts.
   */
  connectionEnv(): NodeJS.ProcessEnv {
    return connectionEnv(this.connection, this.env);
  }

  /**
   * Where the connection settings point: address and namespace. Throws, with what to fix, when they cannot be read (a
   * profile that does not exist, a TLS file that cannot be read, a config file that does not parse).
   */
  server(): ConfiguredServer {
    try {
      return configuredServer(this.connectionEnv());
    } catch (err) {
      throw new Error(
        `cannot read the Temporal connection settings: ${(err as Error).message}; check --profile and the --tls-* files (or TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE, TEMPORAL_TLS_*)`,
        { cause: err },
      );
    }
  }

  /** The address, namespace and profile flags this command was given, to repeat in a suggested command. */
  connectionFlagsForWorker(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    if (this.connection.address) out.push(['--address', this.connection.address]);
    if (this.connection.namespace) out.push(['--namespace', this.connection.namespace]);
    if (this.connection.profile) out.push(['--profile', this.connection.profile]);
    return out;
  }

  /**
   * Runs `fn` (calls the server answers alone: describe, list, start, history) with every call in it bounded by a
   * deadline `ms` from now; running into it rejects with a message naming the server and how long it waited.
   */
  async withServerDeadline<T>(client: Client, fn: () => Promise<T>, ms: number = SERVER_TIMEOUT_MS): Promise<T> {
    try {
      return await client.connection.withDeadline(Date.now() + ms, fn);
    } catch (err) {
      if (!isGrpcDeadlineError(err)) throw err;
      throw new Error(`Temporal at ${this.where()} did not answer within ${ms / 1000}s; check the server's health (\`temporal operator cluster health --address …\`)`, { cause: err });
    }
  }

  /** `address/namespace` of the configured server, for messages. */
  where(): string {
    const server = this.server();
    return `${server.address}/${server.namespace}`;
  }

  /** Waits until a long-running command should stop (SIGINT or SIGTERM unless the caller said otherwise). */
  interrupted(): Promise<void> {
    return this.stopWhen ?? processInterrupted();
  }

  /** Whether stdout is a terminal, where a live view may move the cursor to redraw itself. */
  get terminal(): boolean {
    return this.io.stdout.isTTY === true;
  }

  /** Writes raw text (terminal control sequences) to stdout, without a newline. */
  raw(text: string): void {
    this.io.stdout.write(text);
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
   * The Temporal client, connected on first use with the connection flags and the envconfig settings of
   * {@link CliContext.env}. A server that cannot be reached within the connect timeout (a few seconds) rejects with an
   * error naming the address and the flags and variables that choose it.
   */
  client(): Promise<Client> {
    this.connecting ??= this.connect();
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const server = this.server();
    const started = Date.now();
    return connectClient(this.connectionEnv(), { connectTimeoutMs: this.connectTimeoutMs }).catch((err: unknown) => {
      const waited = `${((Date.now() - started) / 1000).toFixed(1)}s`;
      throw new Error(
        `cannot reach Temporal at ${server.address} (namespace ${server.namespace}) within ${waited}: ${(err as Error).message}; ` +
          'start a server (`temporal server start-dev`) or point --address (or TEMPORAL_ADDRESS, --profile) at the one to use',
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
