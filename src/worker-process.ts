/**
 * The long-running worker process behind `canary worker` / `npm run worker`: connects to the configured Temporal
 * server, runs rollouts on a task queue with the default providers (src/worker.ts), writes structured JSON logs,
 * serves the SDK's Prometheus metrics, and shuts down gracefully on SIGINT or SIGTERM.
 *
 * Owns the process's Temporal runtime: run it in a process where nothing has used Temporal yet.
 */
import { resolve } from 'node:path';
import type { LogLevel } from '@temporalio/common';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { configuredServer } from './client';
import { JsonLinesLogger, type LineSink } from './logging/json-lines-logger';
import { createRolloutDeps, createWorker, DEFAULT_TASK_QUEUE } from './worker';

/** Settings of {@link runWorkerProcess}. */
export interface WorkerProcessOptions {
  /** Default {@link DEFAULT_TASK_QUEUE}. */
  taskQueue?: string;
  /** Directory that plans' relative flagd-file paths resolve against; default the working directory. */
  flagRoot?: string;
  /** The JSON configuration store; default `.canary/config.json`. */
  configFile?: string;
  /** Default INFO. */
  logLevel?: LogLevel;
  /** Serve Prometheus metrics on this port (`/metrics`); none when omitted. */
  metricsPort?: number;
  /** Interface the metrics endpoint binds to; default 0.0.0.0 so a Prometheus elsewhere can scrape it. */
  metricsHost?: string;
  /** A workflow bundle prebuilt with `bundleWorkflowCode` (faster start); otherwise src/workflows is bundled now. */
  workflowBundlePath?: string;
  /** Where TEMPORAL_* connection settings are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go; default stderr. */
  logSink?: LineSink;
}

/** Exit codes of the worker process: 0 after a graceful shutdown, 1 when it could not start or failed. */
export const WorkerExit = { Stopped: 0, Failed: 1 } as const;

const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Runs the worker until a signal stops it and resolves with the exit code.
 *
 * - The first SIGINT or SIGTERM starts a graceful shutdown: the worker stops polling, lets running activities finish
 *   (within the SDK's shutdown grace time) and `run()` resolves; the connection is closed and 0 is returned.
 * - A second signal during that shutdown exits the process at once with 128 + the signal number (130, 143).
 * - Problems that stop it from starting (an unreachable server, a metrics port in use, a runtime set up earlier in
 *   the process) are logged as one `error` line saying what to do, and give 1; so does a worker that fails while
 *   running.
 */
export async function runWorkerProcess(options: WorkerProcessOptions = {}): Promise<number> {
  const logger = new JsonLinesLogger(options.logLevel ?? 'INFO', options.logSink ?? process.stderr);
  const taskQueue = options.taskQueue ?? DEFAULT_TASK_QUEUE;
  const metricsAddress = options.metricsPort === undefined ? undefined : bindAddress(options.metricsHost ?? '0.0.0.0', options.metricsPort);

  try {
    Runtime.install({
      logger,
      // The SDK's own signal handling would shut the worker down without our logging; this process handles signals.
      shutdownSignals: [],
      telemetryOptions: {
        logging: { filter: { core: options.logLevel ?? 'INFO', other: 'WARN' }, forward: {} },
        ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : {}),
      },
    });
  } catch (err) {
    logger.error('the Temporal runtime could not be set up', {
      error: message(err),
      hint: metricsAddress ? `is ${metricsAddress} already in use? choose another --metrics-port` : 'run the worker in a process of its own',
    });
    return WorkerExit.Failed;
  }

  const server = configuredServer(options.env ?? process.env);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ ...server.connectionOptions, address: server.address });
  } catch (err) {
    logger.error('cannot connect to Temporal', {
      address: server.address,
      namespace: server.namespace,
      error: message(err),
      hint: 'set TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or TLS settings), or a TEMPORAL_PROFILE',
    });
    return WorkerExit.Failed;
  }

  let worker: Worker;
  try {
    const flagRoot = resolve(options.flagRoot ?? '.');
    worker = await createWorker({
      connection,
      namespace: server.namespace,
      taskQueue,
      rolloutDeps: createRolloutDeps({ flagFileRoot: flagRoot, configFile: options.configFile }),
      ...(options.workflowBundlePath ? { workflowBundle: { codePath: resolve(options.workflowBundlePath) } } : {}),
    });
  } catch (err) {
    logger.error('the worker could not be created', { error: message(err), taskQueue, namespace: server.namespace });
    await connection.close().catch(() => undefined);
    return WorkerExit.Failed;
  }

  let stopping = false;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(SIGNAL_EXIT[signal]);
    }
    stopping = true;
    logger.info('shutting down', { signal });
    worker.shutdown();
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  logger.info('worker running', {
    address: server.address,
    namespace: server.namespace,
    taskQueue,
    flagRoot: resolve(options.flagRoot ?? '.'),
    ...(metricsAddress ? { metrics: `http://${metricsAddress}/metrics` } : {}),
  });
  let code: number = WorkerExit.Stopped;
  try {
    await worker.run();
    logger.info('worker stopped', { taskQueue });
  } catch (err) {
    logger.error('the worker failed', { error: message(err), taskQueue });
    code = WorkerExit.Failed;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await connection.close().catch(() => undefined);
  }
  return code;
}

/** `host:port`, with an IPv6 host in brackets. */
function bindAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
