/**
 * `canary alert-intake`: the Alertmanager webhook receiver (src/api/alert-intake.ts) as a process. Each firing or
 * resolved alert is routed to its rollout (label `canary_rollout`, or `flag` + `environment`) as an `alert` signal;
 * whether it matches a trigger is the rollout's decision. Runs until SIGINT or SIGTERM. Exit 2 for a bad port or a
 * token variable that is not set; 1 when the port or the Temporal server cannot be reached.
 */
import type { Command } from 'commander';
import { ALERTS_PATH, startAlertIntake, temporalAlertDelivery } from '../../api/alert-intake';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';

interface AlertIntakeCommandOptions {
  port: string;
  host: string;
  tokenEnv?: string;
  json?: boolean;
}

/** Adds `alert-intake` to the program. */
export function registerAlertIntakeCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('alert-intake')
    .description('receive Alertmanager webhooks and deliver each alert to its rollout, until interrupted')
    .option('-p, --port <port>', 'port to listen on', '9095')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--token-env <VAR>', 'require `Authorization: Bearer <token>`, the token read from this environment variable')
    .option('--json', 'print the startup line as JSON: {listening, tokenEnv?}')
    .addHelpText(
      'after',
      `\nAlertmanager receiver:\n  webhook_configs:\n    - url: http://<host>:<port>${ALERTS_PATH}\n      http_config: { authorization: { credentials: <token> } }   # with --token-env`,
    );
  addConnectionOptions(command, cli).action(async (options: AlertIntakeCommandOptions) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) return fail(cli, ExitCode.Usage, `--port ${options.port} is not a port number (0–65535)`);
    if (options.tokenEnv && !cli.env[options.tokenEnv]) return fail(cli, ExitCode.Usage, `--token-env ${options.tokenEnv}: the variable is not set`);
    let intake: Awaited<ReturnType<typeof startAlertIntake>>;
    try {
      const client = await cli.client();
      intake = await startAlertIntake({ port, host: options.host, deliver: temporalAlertDelivery(client), bearerTokenEnv: options.tokenEnv, env: cli.env });
    } catch (err) {
      return fail(cli, ExitCode.Failed, `the intake did not start: ${(err as Error).message}`);
    }
    if (options.json) cli.out(JSON.stringify({ listening: `${intake.url}${ALERTS_PATH}`, ...(options.tokenEnv ? { tokenEnv: options.tokenEnv } : {}) }));
    else cli.out(`canary alert-intake listening on ${intake.url}${ALERTS_PATH}${options.tokenEnv ? ` (bearer token from ${options.tokenEnv})` : ''}`);
    await cli.interrupted();
    await intake.close();
  });
}

function fail(cli: CliContext, code: ExitCode, message: string): void {
  cli.err(`canary alert-intake: ${message}`);
  cli.fail(code);
}
