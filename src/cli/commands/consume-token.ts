/**
 * `canary consume-token <id> <token> --role R [--by] [--key <file> | --key-env <VAR>]`: consumes a one-time token the
 * plan declares (a human-in-the-loop go before a phase). Refused with the rollout's reason when the token is unknown,
 * already consumed, held by another role, or its conditions do not hold (then the rollout HOLDs). A role that
 * requires signatures needs `--key`/`--key-env`; the message id and token are bound into the signature.
 * Exit 0 accepted, 1 refused or unknown rollout, 2 usage (including an unreadable key).
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { consumeToken } from '../../client';
import type { ConsumeTokenInput } from '../../workflows/messages';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';
import { actingIdentity, printAccepted, sendToRollout, signatureHint, withRollout } from '../rollout-options';
import { signMessage } from './sign';

interface ConsumeTokenOptions {
  role: string;
  by?: string;
  key?: string;
  keyEnv?: string;
  json?: boolean;
}

/** Adds `consume-token` to the program. */
export function registerConsumeTokenCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('consume-token')
    .description('consume a one-time token the plan requires before a phase')
    .argument('<id>', 'rollout id (workflow id)')
    .argument('<token>', 'the token id, as the plan names it')
    .requiredOption('--role <role>', 'the role the token belongs to')
    .option('--by <identity>', 'who consumes it (default: $CANARY_USER, then the OS user name)')
    .option('--key <file>', 'sign with the private JWK in this file (roles that require signatures)')
    .option('--key-env <VAR>', 'sign with the private JWK (JSON) held by this environment variable')
    .option('--json', 'print the outcome as JSON');
  addConnectionOptions(command, cli).action(async (rolloutId: string, token: string, options: ConsumeTokenOptions) => {
    const by = actingIdentity(options.by, cli.env);
    let input: ConsumeTokenInput = { id: `consume-token-${randomUUID()}`, token, role: options.role, by };
    const signed = options.key !== undefined || options.keyEnv !== undefined;
    if (signed) {
      const outcome = await signMessage({ rolloutId, action: 'consume-token', role: options.role, by, token, key: options.key, keyEnv: options.keyEnv }, cli.env, cli.now());
      if (!outcome.ok) {
        cli.err(`canary consume-token: ${outcome.problem}`);
        cli.fail(ExitCode.Usage);
        return;
      }
      input = outcome.message as ConsumeTokenInput;
    }
    await withRollout(
      cli,
      rolloutId,
      async (handle, client) => {
        const outcome = await sendToRollout(cli, client, handle, () => consumeToken(handle, input));
        printAccepted(cli, rolloutId, `token ${token} consumed by ${options.role} ${by}${signed ? ' (signed)' : ''}`, outcome, options.json);
      },
      signatureHint(signed),
    );
  });
}
