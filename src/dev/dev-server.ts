/**
 * Starts Temporal servers from the binaries that src/dev/temporal-binaries.ts resolves: the dev server (with the Web
 * UI and the project's search attributes) for `npm start` and end-to-end tests, and the time-skipping test server for
 * workflow tests. Wraps the SDK's ephemeral-server support so a failed start names every way to provide a binary.
 * `npm start` runs the dev server as its own process group instead ({@link spawnDevServer}), so that a Ctrl-C in the
 * terminal reaches npm start alone and it can still roll back its rollout before it stops the server.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment, type EphemeralServerExecutable } from '@temporalio/testing';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { canarySearchAttributes } from '../workflows/search-attributes';
import { explainOptions, resolveTemporalBinary, type ResolveTemporalBinaryOptions } from './temporal-binaries';

export interface DevServerOptions {
  /** gRPC port; random when omitted. */
  port?: number;
  /** Web UI port; no UI when omitted. */
  uiPort?: number;
  /** SQLite file holding the server's state across restarts; in memory when omitted. */
  dbFilename?: string;
  /** Extra `temporal server start-dev` arguments (e.g. dynamic config). */
  extraArgs?: string[];
  /** A binary resolved earlier (tests resolve once per run); otherwise resolved now. */
  executable?: EphemeralServerExecutable;
  resolve?: ResolveTemporalBinaryOptions;
}

/** Starts a dev server with the canary search attributes registered. Tear it down with `env.teardown()`. */
export async function startDevServer(options: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  const executable = options.executable ?? resolveTemporalBinary('cli', options.resolve).executable;
  try {
    return await TestWorkflowEnvironment.createLocal({
      server: {
        executable,
        port: options.port,
        ui: options.uiPort !== undefined,
        uiPort: options.uiPort,
        dbFilename: options.dbFilename,
        searchAttributes: canarySearchAttributes,
        extraArgs: options.extraArgs,
      },
    });
  } catch (err) {
    throw withOptions(err, executable.type === 'cached-download' ? explainOptions('cli') : undefined);
  }
}

/** Starts the time-skipping test server. Time is global to it: run its tests serially. */
export async function startTimeSkippingServer(
  options: { executable?: EphemeralServerExecutable; resolve?: ResolveTemporalBinaryOptions } = {},
): Promise<TestWorkflowEnvironment> {
  const executable = options.executable ?? resolveTemporalBinary('test-server', options.resolve).executable;
  try {
    const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable } });
    // The test server, unlike the dev server, takes no start flag for these: register them through the operator API.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(canarySearchAttributes.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]])),
    });
    return env;
  } catch (err) {
    throw withOptions(err, executable.type === 'cached-download' ? explainOptions('test-server') : undefined);
  }
}

function withOptions(err: unknown, options: string | undefined): unknown {
  if (!options || !(err instanceof Error)) return err;
  return new Error(`${err.message}\n${options}`, { cause: err });
}

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const INDEXED_VALUE_TYPE: Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.TEXT]: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.KEYWORD]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  [SearchAttributeType.BOOL]: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DATETIME]: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.KEYWORD_LIST]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** Options for {@link spawnDevServer}. */
export interface SpawnDevServerOptions {
  /** gRPC port. */
  port: number;
  /** Web UI port; no UI when omitted. */
  uiPort?: number;
  /** Address the server binds (default 127.0.0.1). */
  ip?: string;
  /** SQLite file holding the server's state across restarts; in memory when omitted. */
  dbFilename?: string;
  /** Where the server's own output goes (appended); discarded when omitted. */
  logFile?: string;
  /** A binary resolved earlier; otherwise resolved now. */
  executable?: EphemeralServerExecutable;
  resolve?: ResolveTemporalBinaryOptions;
  /** How long to wait for the server to answer (default 60 s). */
  readyTimeoutMs?: number;
}

/** A dev server process started by {@link spawnDevServer}. */
export interface DevServerProcess {
  /** `ip:port` of the gRPC frontend. */
  address: string;
  /** The Web UI's base URL, when it has one. */
  uiUrl?: string;
  pid: number;
  /** Resolves with the exit code (or signal) when the process ends, for whatever reason. */
  exited: Promise<string>;
  /** Stops the server (SIGTERM, SIGKILL after `graceMs`, default 10 s) and waits for it to exit. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** The dev server failed to start: the message carries its own last words (e.g. "bind: address already in use"). */
export class DevServerStartFailed extends Error {
  override name = 'DevServerStartFailed';
}

/**
 * Runs `temporal server start-dev` as a detached process (its own process group: a Ctrl-C in the terminal does not
 * reach it) with the canary search attributes, and waits until its frontend answers. Stop it with `stop()`; a process
 * that dies without stopping it leaves the server running (its pid is `pid`).
 *
 * Throws {@link DevServerStartFailed} when the server exits before it answers (a port taken, a locked database: the
 * message quotes its error) or does not answer within `readyTimeoutMs`. Needs a binary on disk: with only the SDK's
 * download available, use {@link startDevServer}.
 */
export async function spawnDevServer(options: SpawnDevServerOptions): Promise<DevServerProcess> {
  const executable = options.executable ?? resolveTemporalBinary('cli', options.resolve).executable;
  if (executable.type !== 'existing-path') throw new DevServerStartFailed(`spawnDevServer needs a Temporal CLI binary on disk\n${explainOptions('cli')}`);
  const ip = options.ip ?? '127.0.0.1';
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(options.port), '--namespace', 'default', '--log-format', 'pretty', '--log-level', 'warn'];
  if (options.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort));
  if (options.dbFilename) args.push('--db-filename', options.dbFilename);
  for (const key of canarySearchAttributes) args.push('--search-attribute', `${key.name}=${SEARCH_ATTRIBUTE_FLAG[key.type]}`);

  let logFd: number | undefined;
  let logOffset = 0;
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    logFd = openSync(options.logFile, 'a');
    logOffset = fstatSync(logFd).size;
  }
  const startedAt = Date.now();
  const child = spawn(executable.path, args, { detached: true, stdio: ['ignore', logFd ?? 'ignore', logFd ?? 'ignore'] });
  if (logFd !== undefined) closeSync(logFd);
  const exited = new Promise<string>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit(signal ?? `exit code ${code}`));
    child.once('error', (err) => resolveExit(err.message));
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const address = `${ip}:${options.port}`;

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 10_000): Promise<void> =>
    (stopping ??= (async () => {
      if (hasExited || child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid !== undefined && signalGroup(child.pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    })());

  const deadline = startedAt + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (hasExited || child.pid === undefined) {
      throw new DevServerStartFailed(`the Temporal dev server exited (${await exited}) before it answered on ${address}${lastWords(options.logFile, logOffset)}`);
    }
    if (await answers(address)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new DevServerStartFailed(`the Temporal dev server did not answer on ${address} within ${Math.round((options.readyTimeoutMs ?? 60_000) / 1000)} s${lastWords(options.logFile, logOffset)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // A server of someone else's that held the port would answer too: ours must still be running to count.
  await new Promise((r) => setTimeout(r, 300));
  if (hasExited) throw new DevServerStartFailed(`the Temporal dev server exited (${await exited}) right after it started${lastWords(options.logFile, logOffset)}`);
  return { address, uiUrl: options.uiPort === undefined ? undefined : `http://localhost:${options.uiPort}`, pid: child.pid as number, exited, stop };
}

/**
 * Whether `pid` is a dev server started on `dbFilename` (read from /proc; undefined where there is no /proc): the
 * check before stopping a server a dead npm start left running, so a reused pid is never signalled.
 */
export function isDevServerProcess(pid: number, dbFilename: string): boolean | undefined {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return existsSync('/proc/self/cmdline') ? false : undefined;
  }
  const args = cmdline.split('\0');
  return args.includes('start-dev') && args.includes(dbFilename);
}

/** True when a Temporal frontend answers on `address` (and has the default namespace). */
async function answers(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '1s' });
    await connection.workflowService.describeNamespace({ namespace: 'default' });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** The error lines the server wrote since it started, for the message of a failed start. */
function lastWords(logFile: string | undefined, offset: number): string {
  if (!logFile) return '';
  try {
    const lines = readFileSync(logFile).subarray(offset).toString('utf8').trimEnd().split('\n');
    const errors = lines.filter((l) => /error|fatal|panic/i.test(l)).slice(-3);
    const shown = (errors.length > 0 ? errors : lines.slice(-3)).map((l) => `  ${l}`).join('\n');
    return shown ? `:\n${shown}\n(the server's log: ${logFile})` : '';
  } catch {
    return '';
  }
}

const SEARCH_ATTRIBUTE_FLAG: Record<SearchAttributeType, string> = {
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};
