/**
 * `canary sign <rollout-id> --action approve|reject|consume-token --role R --by ID (--key <file> | --key-env VAR)`:
 * signs one decision with the approver's private key and prints the message input that carries it, ready for the
 * plain Temporal CLI:
 *
 * ```sh
 * temporal workflow signal --workflow-id rollout:checkout-v2:prod --name approve \
 *   --input "$(canary sign rollout:checkout-v2:prod --action approve --role cfo --by cfo@example.com --key-env CFO_JWK)"
 * ```
 *
 * The output is `{id, role, by, subject?, reason?, signature}` for approve and reject (an ApproveInput) and
 * `{id, token, role, by, signature}` for consume-token (a ConsumeTokenInput). The message id is generated unless
 * `--id` gives one, and it is bound into the signature, so the signed message can be sent once: the rollout ignores a
 * repeated id. Exit 0 with the JSON on stdout; 2 for a usage error (a missing or unreadable key, an option that does
 * not fit the action), with one line on stderr saying what to fix. The private key is never printed.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { JWK } from 'jose';
import { tryParseDuration } from '../../domain/duration';
import { signDecision, type SignedDecision } from '../../providers/identity/approval-signature';
import type { ApproveInput, ConsumeTokenInput } from '../../workflows/messages';
import { type CliContext, ExitCode } from '../context';

/** The decisions a signature can carry, as the workflow verifies them. */
export const SIGN_ACTIONS = ['approve', 'reject', 'consume-token'] as const;
export type SignAction = (typeof SIGN_ACTIONS)[number];

/** What `canary sign` is asked to sign; `key` or `keyEnv` names where the private JWK is. */
export interface SignOptions {
  rolloutId: string;
  action: SignAction;
  role: string;
  by: string;
  key?: string;
  keyEnv?: string;
  subject?: string;
  token?: string;
  id?: string;
  reason?: string;
  /** How long the signature stays valid, as a duration ("24h", the default). */
  ttl?: string;
}

/** The signal (or update) input `canary sign` prints. */
export type SignedMessage = (ApproveInput | ConsumeTokenInput) & { id: string; signature: string };

/** A signed message, or the one-line reason it could not be made (a usage problem). */
export type SignOutcome = { ok: true; message: SignedMessage } | { ok: false; problem: string };

/** The shapes of subject the rollout knows (what it approves is still the rollout's to judge). */
const SUBJECT = /^(phase:.+|budget:.+|check:.+|hold)$/;

/**
 * Builds and signs the message. Never throws for user mistakes: a missing, unreadable or public-only key, an option
 * that does not fit the action, or a bad `ttl` is a `{ok: false, problem}`. `env` is read only for `keyEnv`, at the
 * moment of signing; the key's value never appears in a problem.
 */
export async function signMessage(options: SignOptions, env: NodeJS.ProcessEnv = process.env, now: number = Date.now()): Promise<SignOutcome> {
  const fail = (problem: string): SignOutcome => ({ ok: false, problem });
  if (!(SIGN_ACTIONS as readonly string[]).includes(options.action)) {
    return fail(`--action must be one of ${SIGN_ACTIONS.join(', ')}, got "${options.action}"`);
  }
  const tokenAction = options.action === 'consume-token';
  if (tokenAction && !options.token) return fail('--action consume-token needs --token <token id>');
  if (tokenAction && (options.subject !== undefined || options.reason !== undefined)) {
    return fail('--subject and --reason belong to approve and reject; a token consumption carries only --token');
  }
  if (!tokenAction && options.token !== undefined) return fail(`--token belongs to --action consume-token, not ${options.action}`);
  if (options.subject !== undefined && !SUBJECT.test(options.subject)) {
    return fail(`--subject must be phase:<name>, budget:<name>, check:<role> or hold, got "${options.subject}"`);
  }
  const ttlMs = tryParseDuration(options.ttl ?? '24h');
  if (ttlMs === undefined || ttlMs < 1000) return fail(`--ttl must be a duration of at least 1s such as 15m or 24h, got "${options.ttl}"`);

  const key = await readPrivateKey(options, env);
  if (!key.ok) return key;

  const id = options.id ?? `${options.action}-${randomUUID()}`;
  const decision: SignedDecision = tokenAction
    ? { rollout: options.rolloutId, action: 'consume-token', role: options.role, by: options.by, id, token: options.token }
    : { rollout: options.rolloutId, action: options.action, role: options.role, by: options.by, id, subject: options.subject };
  let signature: string;
  try {
    signature = await signDecision(decision, key.jwk, { now, ttlSeconds: Math.floor(ttlMs / 1000) });
  } catch (err) {
    return fail(`${key.where} cannot sign (${(err as Error).message}); use a private EC (ES256), OKP (EdDSA) or RSA (RS256) JWK`);
  }
  const message: SignedMessage = tokenAction
    ? { id, token: options.token as string, role: options.role, by: options.by, signature }
    : {
        id,
        role: options.role,
        by: options.by,
        ...(options.subject !== undefined ? { subject: options.subject } : {}),
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        signature,
      };
  return { ok: true, message };
}

async function readPrivateKey(options: SignOptions, env: NodeJS.ProcessEnv): Promise<{ ok: true; jwk: JWK; where: string } | { ok: false; problem: string }> {
  if ((options.key === undefined) === (options.keyEnv === undefined)) {
    return { ok: false, problem: 'give exactly one of --key <private JWK file> or --key-env <VAR holding the private JWK JSON>' };
  }
  let text: string;
  let where: string;
  if (options.key !== undefined) {
    where = `key file ${options.key}`;
    try {
      text = await readFile(options.key, 'utf8');
    } catch (err) {
      return { ok: false, problem: `cannot read ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
  } else {
    where = `environment variable ${options.keyEnv}`;
    const value = env[options.keyEnv as string];
    if (!value) return { ok: false, problem: `${where} is not set; set it to the approver's private JWK (JSON)` };
    text = value;
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    // The text may be a secret: say where it came from, never what it held.
    return { ok: false, problem: `${where} does not hold JSON; it must hold one private JWK ({"kty": …, "d": …})` };
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk) || typeof (jwk as JWK).kty !== 'string') {
    return { ok: false, problem: `${where} does not hold a JWK; it must hold one private JWK ({"kty": …, "d": …})` };
  }
  if (typeof (jwk as JWK).d !== 'string') {
    return { ok: false, problem: `${where} holds a public key; sign with the approver's private key (the JWK with "d")` };
  }
  return { ok: true, jwk: jwk as JWK, where };
}

interface SignCommandOptions {
  json?: boolean;
  action: string;
  role: string;
  by: string;
  key?: string;
  keyEnv?: string;
  subject?: string;
  token?: string;
  id?: string;
  reason?: string;
  ttl?: string;
}

/** Adds `sign` to the program. */
export function registerSignCommand(program: Command, cli: CliContext): void {
  program
    .command('sign')
    .description('sign an approval, rejection or token consumption and print the signal input for `temporal workflow signal`')
    .argument('<rollout-id>', 'the rollout (workflow id) the decision is for, e.g. rollout:checkout-v2:prod')
    .requiredOption('--action <action>', `what is signed: ${SIGN_ACTIONS.join(', ')}`)
    .requiredOption('--role <role>', 'the plan role the approver acts as')
    .requiredOption('--by <id>', "the approver's identity, as listed in the role's members")
    .option('--key <file>', "a file holding the approver's private JWK")
    .option('--key-env <VAR>', "an environment variable holding the approver's private JWK (JSON)")
    .option('--subject <subject>', 'what is approved: phase:<name>, budget:<name>, check:<role> or hold (default: whatever waits for the role)')
    .option('--token <token>', 'the token consumed (consume-token only)')
    .option('--id <id>', 'the message id bound into the signature (default: generated)')
    .option('--reason <text>', 'why (approve and reject only)')
    .option('--ttl <duration>', 'how long the signature stays valid', '24h')
    .option('--json', 'the output is the signal input as JSON with or without this flag')
    .action(async (rolloutId: string, options: SignCommandOptions) => {
      const { json: _json, ...signOptions } = options;
      const outcome = await signMessage({ ...signOptions, rolloutId, action: options.action as SignAction }, cli.env, cli.now());
      if (!outcome.ok) {
        cli.err(`canary sign: ${outcome.problem}`);
        cli.fail(ExitCode.Usage);
        return;
      }
      cli.out(JSON.stringify(outcome.message));
    });
}
