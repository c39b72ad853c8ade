/**
 * The `canary` command line. Each command lives in its own file under commands/ and is registered here on one
 * commander program; user surfaces talk to Temporal only through client.ts.
 *
 * `main` runs in-process (tests call it with arguments and collectors); bin/canary.js and `npm run canary` call it with
 * the process's arguments. Exit codes: 0 ok, 1 refused or failed, 2 usage error or invalid plan. User mistakes end in
 * a one-line message, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { version } from '../../package.json';
import { registerApiCommand } from './commands/api';
import { registerAlertIntakeCommand } from './commands/alert-intake';
import { registerAttestCommand } from './commands/attest';
import { registerConsumeTokenCommand } from './commands/consume-token';
import { registerDecideCommands } from './commands/decide';
import { registerDevTokenCommand } from './commands/dev-token';
import { registerListCommand } from './commands/list';
import { registerOperateCommands } from './commands/operate';
import { registerPlanCommand } from './commands/plan';
import { registerReplayCommand } from './commands/replay';
import { registerReportCommand } from './commands/report';
import { registerSchemaCommand } from './commands/schema';
import { registerSignCommand } from './commands/sign';
import { registerSimulateCommand } from './commands/simulate';
import { registerStartCommand } from './commands/start';
import { registerStatusCommand } from './commands/status';
import { registerValidateCommand } from './commands/validate';
import { registerWatchCommand } from './commands/watch';
import { registerWorkerCommand } from './commands/worker';
import { registerWorkflowInputCommand } from './commands/workflow-input';
import { CliContext, ExitCode, type CliIo, type CliOptions } from './context';

/** Builds the program with every command registered; output goes to `cli.io`, and errors throw instead of exiting. */
export function buildProgram(cli: CliContext): Command {
  const program = new Command('canary')
    .description('Durable canary rollouts on Temporal: check, explain and run rollout plans.')
    .version(version, '-V, --version')
    .configureOutput({
      writeOut: (text) => cli.io.stdout.write(text),
      writeErr: (text) => cli.io.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  // Registered after the settings above so that every command inherits them.
  registerValidateCommand(program, cli);
  registerPlanCommand(program, cli);
  registerSchemaCommand(program, cli);
  registerSimulateCommand(program, cli);
  // Running rollouts: start, follow, decide, operate, document.
  registerStartCommand(program, cli);
  registerListCommand(program, cli);
  registerStatusCommand(program, cli);
  registerWatchCommand(program, cli);
  registerDecideCommands(program, cli);
  registerAttestCommand(program, cli);
  registerConsumeTokenCommand(program, cli);
  registerSignCommand(program, cli);
  registerWorkflowInputCommand(program, cli);
  registerOperateCommands(program, cli);
  registerReportCommand(program, cli);
  registerReplayCommand(program, cli);
  // Processes: the worker that runs rollouts and the HTTP API.
  registerWorkerCommand(program, cli);
  registerApiCommand(program, cli);
  registerAlertIntakeCommand(program, cli);
  registerDevTokenCommand(program, cli);
  return program;
}

/**
 * Runs `canary` with `argv` (the arguments after the program name) and returns the exit code. Never throws: usage
 * errors are printed by commander and give 2; an unexpected error (Temporal unreachable, …) prints one line and
 * gives 1. `options.env` replaces `process.env` for everything the command reads (TEMPORAL_ADDRESS, CANARY_USER,
 * `--key-env` variables), so a test can point one run at its own server. A Temporal connection the command opened
 * is closed before returning.
 */
export async function main(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
  options: CliOptions = {},
): Promise<number> {
  const cli = new CliContext(io, options);
  try {
    await buildProgram(cli).parseAsync([...argv], { from: 'user' });
  } catch (err) {
    // Help and --version end in a CommanderError with exit code 0; anything else commander rejects is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    cli.err(`canary: ${err instanceof Error ? err.message : String(err)}`);
    return ExitCode.Failed;
  } finally {
    await cli.close();
  }
  return cli.exitCode;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
