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
import { registerPlanCommand } from './commands/plan';
import { registerSchemaCommand } from './commands/schema';
import { registerSimulateCommand } from './commands/simulate';
import { registerValidateCommand } from './commands/validate';
import { CliContext, ExitCode, type CliIo } from './context';

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
  return program;
}

/**
 * Runs `canary` with `argv` (the arguments after the program name) and returns the exit code. Never throws: usage
 * errors are printed by commander and give 2; an unexpected error prints one line and gives 1.
 */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const cli = new CliContext(io);
  try {
    await buildProgram(cli).parseAsync([...argv], { from: 'user' });
  } catch (err) {
    // Help and --version end in a CommanderError with exit code 0; anything else commander rejects is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    cli.err(`canary: ${err instanceof Error ? err.message : String(err)}`);
    return ExitCode.Failed;
  }
  return cli.exitCode;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
