/**
 * `canary approve <id> --role R` and `canary reject <id> --role R`: an approver's decision, sent as an Update so the
 * rollout answers at once — accepted (with the ops-log lines it caused) or refused with its reason (unknown role, not
 * a member, wrong phase, signature missing or invalid). `--subject` picks what is decided (`phase:<name>`,
 * `budget:<name>`, `hold`); by default, whatever waits for the role.
 *
 * `--key <file>` or `--key-env <VAR>` signs the decision with the approver's private JWK: the message id is generated
 * and bound into the signature together with the rollout, role, approver and subject. A role that requires signatures
 * refuses an unsigned decision; the CLI then says how to sign. Exit 0 accepted, 1 refused or unknown rollout, 2 usage
 * (including an unreadable key).
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { approve, reject } from '../../client';
import type { ApproveInput } from '../../workflows/messages';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';
import { actingIdentity, printAccepted, sendToRollout, signatureHint, withRollout } from '../rollout-options';
import { signMessage } from './sign';

interface DecideOptions {
  role: string;
  by?: string;
  reason?: string;
  subject?: string;
  key?: string;
  keyEnv?: string;
  json?: boolean;
}

/** Adds `approve` and `reject` to the program. */
export function registerDecideCommands(program: Command, cli: CliContext): void {
  for (const decision of ['approve', 'reject'] as const) {
    const command = program
      .command(decision)
      .description(decision === 'approve' ? 'approve what waits for a role: a phase, a budget, a hold' : 'reject what waits for a role (a rejected phase does not start; a rejected hold rolls back)')
      .argument('<id>', 'rollout id (workflow id)')
      .requiredOption('--role <role>', 'the plan role you decide as')
      .option('--by <identity>', 'who decides (default: $CANARY_USER, then the OS user name)')
      .option('--reason <text>', 'why; recorded in the ops log and the evidence report')
      .option('--subject <subject>', 'what is decided: phase:<name>, budget:<name>, check:<role> or hold (default: whatever waits for the role)')
      .option('--key <file>', "sign with the private JWK in this file (roles that require signatures)")
      .option('--key-env <VAR>', 'sign with the private JWK (JSON) held by this environment variable')
      .option('--json', 'print the outcome as JSON');
    addConnectionOptions(command, cli).action(async (rolloutId: string, options: DecideOptions) => {
      const by = actingIdentity(options.by, cli.env);
      let input: ApproveInput = { id: `${decision}-${randomUUID()}`, role: options.role, by, subject: options.subject, reason: options.reason };
      const signed = options.key !== undefined || options.keyEnv !== undefined;
      if (signed) {
        const outcome = await signMessage(
          { rolloutId, action: decision, role: options.role, by, key: options.key, keyEnv: options.keyEnv, subject: options.subject, reason: options.reason },
          cli.env,
          cli.now(),
        );
        if (!outcome.ok) {
          cli.err(`canary ${decision}: ${outcome.problem}`);
          cli.fail(ExitCode.Usage);
          return;
        }
        input = outcome.message as ApproveInput;
      }
      await withRollout(
        cli,
        rolloutId,
        async (handle, client) => {
          const outcome = await sendToRollout(cli, client, handle, () => (decision === 'approve' ? approve : reject)(handle, input));
          printAccepted(cli, rolloutId, `${decision} by ${options.role} ${by}${signed ? ' (signed)' : ''}`, outcome, options.json);
        },
        signatureHint(signed),
      );
    });
  }
}
