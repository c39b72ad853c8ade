/**
 * `canary status <id> [--log <n>] [--json]`: one progress frame of a rollout — status, phase and percent, time left in
 * the phase, each gate against its threshold, what it waits for and the command that approves (with `--key` when the
 * role signs) — then its last ops-log entries. An ended rollout prints its outcome and last entries from the workflow
 * result. With --json: the status view of a running rollout, or `{rolloutId, running: false, executionStatus, result}`
 * of an ended one.
 *
 * Exit 0 when the rollout was read (whatever its state); 1 when there is no such rollout or Temporal cannot be reached.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { renderOpsLogLine } from '../../view/ops-log-line';
import { renderProgress } from '../../view/progress';
import { addConnectionOptions } from '../connection-options';
import type { CliContext } from '../context';
import { planForCommands, readRollout, renderEnded, withRollout } from '../rollout-options';

interface StatusOptions {
  log: number;
  json?: boolean;
}

/** Adds `status` to the program. */
export function registerStatusCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('status')
    .description('show where a rollout is: phase, percent, gates against thresholds, what it waits for, recent decisions')
    .argument('<id>', 'rollout id (workflow id)')
    .option('--log <n>', 'how many recent ops-log entries to print', nonNegativeInteger, 5)
    .option('--json', 'print the status view as JSON');
  addConnectionOptions(command, cli).action(async (rolloutId: string, options: StatusOptions) => {
    await withRollout(cli, rolloutId, async (handle, client) => {
      const snapshot = await readRollout(cli, client, handle);
      if (options.json) {
        cli.out(JSON.stringify(snapshot.running ? snapshot.view : { rolloutId, ...snapshot }, null, 2));
        return;
      }
      const lines = snapshot.running
        ? renderProgress(snapshot.view, { now: cli.now(), rolloutId, plan: await planForCommands(cli, client, handle, snapshot.view) })
        : renderEnded(rolloutId, snapshot);
      lines.forEach((line) => cli.out(line));
      const log = (snapshot.running ? snapshot.view.opsLog : snapshot.result?.opsLog ?? []).slice(-options.log);
      if (options.log === 0 || log.length === 0) return;
      cli.out('  recent decisions:');
      for (const entry of log) cli.out(`    ${renderOpsLogLine(entry)}`);
    });
  });
}

function nonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return value;
}
