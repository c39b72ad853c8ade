/**
 * `canary dev-token --roles <roles> [--subject <id>] [--issuer <iss>] [--audience <aud>] [--expires <duration>]
 * [--dir <dir>] [--json]`: a key pair and bearer tokens for trying the HTTP API (`canary api`) without an identity
 * provider. The first run makes an ES256 key pair in `--dir` (default `.canary/dev-token/`): `private.jwk.json` (mode
 * 0600), `jwks.json` (the public key as a JWKS, for `canary api --jwks`) and `public.pem` (for `--public-key`); later
 * runs sign with the same key until `--new-key`. Each run mints one JWT — `sub`, the roles claim (`roles` unless
 * `--role-claim` says otherwise), `iss`, `aud`, `iat`, `exp`, signed with the key's `kid` — and prints it alone on
 * stdout, so `TOKEN=$(canary dev-token --roles release-manager)` works; stderr says which files hold the keys and the
 * `canary api` command that accepts the token. With --json, one object: `{token, subject, roles, issuer, audience,
 * expiresAt, kid, jwksFile, publicKeyFile, privateKeyFile, apiCommand}`.
 *
 * For development only: the private key sits unencrypted on disk. Exit 0; 2 for a usage mistake (no roles, a bad
 * duration, a key file that is not a private P-256 JWK); 1 when the key files cannot be written.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type JWK, type KeyLike } from 'jose';
import { tryParseDuration } from '../../domain/duration';
import { shellWord } from '../../view/progress';
import { type CliContext, ExitCode } from '../context';
import { actingIdentity } from '../rollout-options';

/** Where the key pair lives unless `--dir` says otherwise (`.canary/` is git-ignored). */
export const DEV_TOKEN_DIR = join('.canary', 'dev-token');

/** The issuer and audience a dev token carries unless told otherwise. */
export const DEV_TOKEN_ISSUER = 'canary-dev-token';
export const DEV_TOKEN_AUDIENCE = 'canary-api';

/** What to mint. */
export interface DevTokenOptions {
  roles: string[];
  subject: string;
  issuer: string;
  audience: string;
  /** Lifetime in ms. */
  expiresInMs: number;
  /** The claim holding the roles; the API reads `roles` and `groups` by default. */
  roleClaim: string;
  dir: string;
  /** Make a new key pair even when `dir` holds one. */
  newKey?: boolean;
  /** Epoch ms; default now. */
  now?: number;
}

/** A minted token and where its keys are. */
export interface DevToken {
  token: string;
  subject: string;
  roles: string[];
  issuer: string;
  audience: string;
  expiresAt: string;
  kid: string;
  jwksFile: string;
  publicKeyFile: string;
  privateKeyFile: string;
  /** Whether this run made the key pair (rather than reusing the one in the directory). */
  newKey: boolean;
}

/** A usage mistake, said in one line. */
export class DevTokenProblem extends Error {
  override name = 'DevTokenProblem';
}

/**
 * Makes (or reuses) the key pair in `options.dir` and mints a token. Rejects with {@link DevTokenProblem} for a key
 * file that is not a private P-256 JWK; file system errors pass through.
 */
export async function mintDevToken(options: DevTokenOptions): Promise<DevToken> {
  const files = {
    privateKeyFile: join(options.dir, 'private.jwk.json'),
    jwksFile: join(options.dir, 'jwks.json'),
    publicKeyFile: join(options.dir, 'public.pem'),
  };
  const existing = options.newKey ? undefined : await readPrivateJwk(files.privateKeyFile);
  const privateJwk = existing ?? (await writeKeyPair(files));
  const kid = privateJwk.kid as string;
  const key = (await importJWK(privateJwk, 'ES256')) as KeyLike;
  const now = options.now ?? Date.now();
  const iat = Math.floor(now / 1000);
  const exp = Math.floor((now + options.expiresInMs) / 1000);
  const token = await new SignJWT({ [options.roleClaim]: options.roles })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
  return {
    token,
    subject: options.subject,
    roles: options.roles,
    issuer: options.issuer,
    audience: options.audience,
    expiresAt: new Date(exp * 1000).toISOString(),
    kid,
    ...files,
    newKey: existing === undefined,
  };
}

async function readPrivateJwk(file: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new DevTokenProblem(`${file} does not hold JSON; remove it or pass --new-key to make a new key pair`);
  }
  if (jwk?.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string' || typeof jwk.kid !== 'string') {
    throw new DevTokenProblem(`${file} is not a private P-256 JWK with a kid; pass --new-key to make a new key pair`);
  }
  return jwk;
}

/** Generates an ES256 key pair and writes the private JWK, the public JWKS and the public PEM; returns the private JWK. */
async function writeKeyPair(files: { privateKeyFile: string; jwksFile: string; publicKeyFile: string }): Promise<JWK> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk: JWK = { ...(await exportJWK(pair.privateKey)), kid, alg: 'ES256', use: 'sig' };
  await mkdir(dirname(files.privateKeyFile), { recursive: true });
  await writeFile(files.privateKeyFile, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600 });
  await writeFile(files.jwksFile, `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] }, null, 2)}\n`);
  await writeFile(files.publicKeyFile, await exportSPKI(pair.publicKey));
  return privateJwk;
}

/** The `canary api` command that accepts tokens minted with these settings. */
export function apiCommandFor(token: Pick<DevToken, 'jwksFile' | 'issuer' | 'audience'>, roleClaim: string): string {
  const words = ['canary', 'api', '--jwks', shellWord(token.jwksFile), '--issuer', shellWord(token.issuer), '--audience', shellWord(token.audience)];
  if (roleClaim !== 'roles' && roleClaim !== 'groups') words.push('--role-claims', shellWord(roleClaim));
  return words.join(' ');
}

interface DevTokenCommandOptions {
  roles: string;
  subject?: string;
  issuer: string;
  audience: string;
  expires: string;
  roleClaim: string;
  dir: string;
  newKey?: boolean;
  json?: boolean;
}

/** Adds `dev-token` to the program. */
export function registerDevTokenCommand(program: Command, cli: CliContext): void {
  program
    .command('dev-token')
    .description('make an ES256 key pair (JWK files) and mint a bearer JWT with roles for trying the HTTP API; development only')
    .requiredOption('--roles <roles>', 'comma-separated roles the token carries, e.g. release-manager,sre')
    .option('--subject <id>', 'the identity (sub) the API acts as (default: $CANARY_USER, then the OS user name)')
    .option('--issuer <iss>', 'the iss claim; give `canary api` the same --issuer', DEV_TOKEN_ISSUER)
    .option('--audience <aud>', 'the aud claim; give `canary api` the same --audience', DEV_TOKEN_AUDIENCE)
    .option('--expires <duration>', 'how long the token is valid, e.g. 15m, 8h', '1h')
    .option('--role-claim <claim>', 'the claim holding the roles (the API reads roles and groups by default)', 'roles')
    .option('--dir <dir>', 'where the key pair is kept: private.jwk.json, jwks.json, public.pem', DEV_TOKEN_DIR)
    .option('--new-key', 'make a new key pair even when --dir holds one (tokens signed with the old key stop verifying)')
    .option('--json', 'print {token, subject, roles, issuer, audience, expiresAt, kid, jwksFile, publicKeyFile, privateKeyFile, apiCommand}')
    .addHelpText(
      'after',
      '\nTry the API with it:\n  canary api --jwks .canary/dev-token/jwks.json --issuer canary-dev-token --audience canary-api &\n' +
        '  curl -H "Authorization: Bearer $(canary dev-token --roles release-manager)" http://127.0.0.1:8080/rollouts\n' +
        '\nFor development only: the private key is stored unencrypted. Use your identity provider in production.',
    )
    .action(async (options: DevTokenCommandOptions) => {
      const roles = options.roles.split(',').map((r) => r.trim()).filter(Boolean);
      if (roles.length === 0) return usage(cli, '--roles: name at least one role, e.g. --roles release-manager');
      const expiresInMs = tryParseDuration(options.expires);
      if (expiresInMs === undefined || expiresInMs < 1000) return usage(cli, `--expires: expected a duration of at least 1s such as 15m or 8h, got "${options.expires}"`);
      let minted: DevToken;
      try {
        minted = await mintDevToken({
          roles,
          subject: actingIdentity(options.subject, cli.env),
          issuer: options.issuer,
          audience: options.audience,
          expiresInMs,
          roleClaim: options.roleClaim,
          dir: options.dir,
          newKey: options.newKey,
          now: cli.now(),
        });
      } catch (err) {
        if (err instanceof DevTokenProblem) return usage(cli, err.message);
        cli.err(`canary dev-token: cannot write the key pair in ${options.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        cli.fail(ExitCode.Failed);
        return;
      }
      const { newKey, ...token } = minted;
      const apiCommand = apiCommandFor(minted, options.roleClaim);
      if (options.json) {
        cli.out(JSON.stringify({ ...token, apiCommand }));
        return;
      }
      cli.out(minted.token);
      cli.err(`${newKey ? 'made a new key pair' : 'signed with the key pair'} in ${options.dir} (kid ${minted.kid}); token for ${minted.subject} with roles ${roles.join(', ')}, valid until ${minted.expiresAt}`);
      cli.err(`serve the API with: ${apiCommand}`);
    });
}

function usage(cli: CliContext, message: string): void {
  cli.err(`canary dev-token: ${message}`);
  cli.fail(ExitCode.Usage);
}
