/**
 * The operator commands, each an Update the rollout accepts or refuses with its reason:
 * - `canary pause <id> [--reason]`, `canary resume <id> [--reason]` (resume also lifts a hold);
 * - `canary abort <id> --reason` and `canary rollback <id> --reason`: back out (flags off or to the previous percent,
 *   as the plan says), then verify; abort ends as aborted, rollback as rolled_back;
 * - `canary promote <id>` enters the next phase now, waiving the current phase's minimum duration and gates (the next
 *   phase's approvals and tokens still apply); `--force --reason` goes straight to the last phase, bypassing gates and
 *   approvals (recorded as force-promote with the reason; off unless the plan grants it to roles);
 * - `canary kill <id> [--reason]`: the emergency stop — flags off now, no verification wait.
 * `--role` names the operator role the plan grants for the command (controls.operators for all, controls.safety for
 * pause/rollback/abort/kill, controls.forcePromote for --force); a plan with no grants is steered by its owner. Exit 0 accepted, 1 refused or unknown
 * rollout, 2 usage (a missing --reason where one is required, --force without --reason).
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { operate } from '../../client';
import type { OperatorCommand } from '../../domain/types';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';
import { actingIdentity, printAccepted, sendToRollout, withRollout } from '../rollout-options';

interface OperateOptions {
  reason?: string;
  by?: string;
  role?: string;
  force?: boolean;
  json?: boolean;
}

/** The commands, what each does for `--help`, and whether a reason is required. */
const COMMANDS: Array<{ name: 'pause' | 'resume' | 'abort' | 'rollback' | 'promote' | 'kill'; description: string; reasonRequired: boolean }> = [
  { name: 'pause', description: 'pause a rollout where it is: no advancing until resumed (triggers still act)', reasonRequired: false },
  { name: 'resume', description: 'resume a paused rollout, or lift a hold', reasonRequired: false },
  { name: 'abort', description: 'stop the rollout and back its flags out; it ends as aborted', reasonRequired: true },
  { name: 'rollback', description: 'roll the rollout back and verify; it ends as rolled_back', reasonRequired: true },
  { name: 'promote', description: 'enter the next phase now, waiving minimum duration and gates (--force --reason: straight to the last phase)', reasonRequired: false },
  { name: 'kill', description: 'emergency stop: flags off now, the rollout ends as killed', reasonRequired: false },
];

/** Adds pause, resume, abort, rollback, promote and kill to the program. */
export function registerOperateCommands(program: Command, cli: CliContext): void {
  for (const spec of COMMANDS) {
    const command = program
      .command(spec.name)
      .description(spec.description)
      .argument('<id>', 'rollout id (workflow id)');
    if (spec.reasonRequired) command.requiredOption('--reason <text>', 'why; recorded in the ops log and the evidence report');
    else command.option('--reason <text>', 'why; recorded in the ops log and the evidence report');
    if (spec.name === 'promote') command.option('--force', 'go straight to the last phase, bypassing gates and approvals (needs --reason)');
    command
      .option('--by <identity>', 'who acts (default: $CANARY_USER, then the OS user name)')
      .option('--role <role>', 'the operator role you act as: one the plan grants for this command (controls.operators, controls.safety, controls.forcePromote); without grants only the plan owner may act')
      .option('--json', 'print the outcome as JSON');
    addConnectionOptions(command, cli).action(async (rolloutId: string, options: OperateOptions) => {
      if (options.force && !options.reason) {
        cli.err('canary promote --force: a forced promotion bypasses gates and approvals; say why with --reason <text>');
        cli.fail(ExitCode.Usage);
        return;
      }
      const operation: OperatorCommand = spec.name === 'promote' && options.force ? 'force-promote' : spec.name;
      const by = actingIdentity(options.by, cli.env);
      await withRollout(cli, rolloutId, async (handle, client) => {
        const input = { id: `${operation}-${randomUUID()}`, command: operation, by, role: options.role, reason: options.reason };
        const outcome = await sendToRollout(cli, client, handle, () => operate(handle, input));
        printAccepted(cli, rolloutId, `${operation} by ${by}`, outcome, options.json);
      });
    });
  }
}
