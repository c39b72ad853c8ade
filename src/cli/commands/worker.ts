/**
 * `canary worker` (also `npm run worker`): the long-running process that runs rollouts. Connection settings come from
 * the connection flags (`--address`, `--namespace`, `--profile`, `--api-key`, `--tls*`), then the environment and
 * envconfig profiles (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE), as
 * for the `temporal` CLI. Logs are JSON lines on stderr; `--metrics-port` serves the SDK's
 * Prometheus metrics. SIGINT or SIGTERM shuts it down gracefully (exit 0); a second signal exits at once.
 * Exit 2 for a bad option, 1 when it cannot start or fails (see src/worker-process.ts).
 */
import type { Command } from 'commander';
import { DEFAULT_TASK_QUEUE } from '../../worker';
import { LOG_LEVELS, parseLogLevel } from '../../logging/json-lines-logger';
import { runWorkerProcess } from '../../worker-process';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';

interface WorkerCommandOptions {
  taskQueue: string;
  flagRoot?: string;
  configFile?: string;
  logLevel: string;
  metricsPort?: string;
  metricsHost?: string;
  workflowBundle?: string;
  json?: boolean;
}

/** Adds `worker` to the program. */
export function registerWorkerCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('worker')
    .description('run rollouts: a Temporal worker for the rollout workflow and its activities (JSON logs on stderr)')
    .option('--task-queue <queue>', 'the task queue to poll', DEFAULT_TASK_QUEUE)
    .option('--flag-root <dir>', "directory that plans' relative flagd-file paths resolve against (default: the working directory)")
    .option('--config-file <file>', 'the JSON configuration store that config changes write (default: .canary/config.json)')
    .option('--log-level <level>', `least severe level logged: ${LOG_LEVELS.map((l) => l.toLowerCase()).join(', ')}`, 'info')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port at /metrics (default: no metrics endpoint)')
    .option('--metrics-host <host>', 'interface the metrics endpoint binds to', '0.0.0.0')
    .option('--workflow-bundle <file>', 'a workflow bundle prebuilt with bundleWorkflowCode (default: bundle at start)')
    .option('--json', 'the log is JSON lines on stderr with or without this flag; accepted so that every command takes --json');
  addConnectionOptions(command, cli).action(async (options: WorkerCommandOptions) => {
    const logLevel = parseLogLevel(options.logLevel);
    if (!logLevel) {
      cli.err(`canary worker: --log-level must be one of ${LOG_LEVELS.map((l) => l.toLowerCase()).join(', ')}, got "${options.logLevel}"`);
      cli.fail(ExitCode.Usage);
      return;
    }
    const metricsPort = options.metricsPort === undefined ? undefined : Number(options.metricsPort);
    if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort > 0 && metricsPort < 65536)) {
      cli.err(`canary worker: --metrics-port must be a port number from 1 to 65535, got "${options.metricsPort}"`);
      cli.fail(ExitCode.Usage);
      return;
    }
    // Connection settings that cannot be read (a missing profile, an unreadable TLS file) are said before starting.
    let env: NodeJS.ProcessEnv;
    try {
      cli.server();
      env = cli.connectionEnv();
    } catch (err) {
      cli.err(`canary worker: ${(err as Error).message}`);
      cli.fail(ExitCode.Failed);
      return;
    }
    const code = await runWorkerProcess({
      taskQueue: options.taskQueue,
      flagRoot: options.flagRoot,
      configFile: options.configFile,
      logLevel,
      metricsPort,
      metricsHost: options.metricsHost,
      workflowBundlePath: options.workflowBundle,
      env,
    });
    if (code !== 0) cli.fail(ExitCode.Failed);
  });
}
