/**
 * `canary attest <id> <check> [--by] [--note]`: attests a check the plan declares as `kind: attestation` ("rollback
 * drill done"). Refused with the rollout's reason when no such check exists or the identity lacks the check's role.
 * Exit 0 accepted, 1 refused or unknown rollout.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { attest } from '../../client';
import { addConnectionOptions } from '../connection-options';
import type { CliContext } from '../context';
import { actingIdentity, printAccepted, sendToRollout, withRollout } from '../rollout-options';

interface AttestOptions {
  by?: string;
  note?: string;
  json?: boolean;
}

/** Adds `attest` to the program. */
export function registerAttestCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('attest')
    .description('attest a check the plan leaves to a person (kind: attestation)')
    .argument('<id>', 'rollout id (workflow id)')
    .argument('<check>', 'the attested check, as the plan names it')
    .option('--by <identity>', 'who attests (default: $CANARY_USER, then the OS user name)')
    .option('--note <text>', 'what was checked, for the ops log')
    .option('--json', 'print the outcome as JSON');
  addConnectionOptions(command, cli).action(async (rolloutId: string, check: string, options: AttestOptions) => {
    const by = actingIdentity(options.by, cli.env);
    await withRollout(cli, rolloutId, async (handle, client) => {
      const outcome = await sendToRollout(cli, client, handle, () => attest(handle, { id: `attest-${randomUUID()}`, check, by, note: options.note }));
      printAccepted(cli, rolloutId, `attestation of ${check} by ${by}`, outcome, options.json);
    });
  });
}
