/**
 * `canary api`: serves the authenticated HTTP API (docs/http-api.md) until SIGINT or SIGTERM. Tokens are verified
 * against `--jwks` (a JWKS URL or file) or `--public-key` (a PEM file), with `--issuer` and `--audience` checked when
 * given. The Temporal server comes from the connection flags, then the environment (TEMPORAL_ADDRESS, profiles), as
 * for every command. `canary dev-token` makes a key pair and tokens to try it with.
 * Exit 2 for a usage mistake (no key source, both, a bad port); 1 when the keys cannot be loaded or the server or
 * port cannot be reached.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { startHttpApi } from '../../api/serve';
import { type AuthOptions, createAuthenticator } from '../../api/auth';
import { DEFAULT_TASK_QUEUE } from '../../worker';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';

interface ApiOptions {
  port: string;
  host: string;
  jwks?: string;
  publicKey?: string;
  issuer?: string;
  audience?: string;
  identityClaim: string;
  roleClaims: string;
  starterRoles: string;
  taskQueue: string;
  json?: boolean;
}

const list = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);

/** Adds `api` to the program. */
export function registerApiCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('api')
    .description('serve the HTTP API (bearer JWTs, OpenAPI at /openapi.json) until interrupted')
    .option('-p, --port <port>', 'port to listen on', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--jwks <url|file>', 'verify tokens against this JWKS URL or file')
    .option('--public-key <file>', 'verify tokens against this PEM public key')
    .option('--issuer <iss>', 'accept only tokens from this issuer')
    .option('--audience <aud>', 'accept only tokens for this audience')
    .option('--identity-claim <claim>', 'the claim naming the caller', 'sub')
    .option('--role-claims <claims>', 'comma-separated claims holding roles or groups', 'roles,groups')
    .option('--starter-roles <roles>', 'comma-separated roles that may start rollouts', 'release-manager')
    .option('--task-queue <queue>', 'task queue rollouts are started on', DEFAULT_TASK_QUEUE)
    .option('--json', 'print the startup line as JSON: {listening, openapi}');
  addConnectionOptions(command, cli).action(async (options: ApiOptions) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) return usage(cli, `--port ${options.port} is not a port number (0–65535)`);
    if (Boolean(options.jwks) === Boolean(options.publicKey)) {
      return usage(cli, options.jwks ? 'give --jwks or --public-key, not both' : 'give --jwks <url|file> or --public-key <file> to verify tokens with');
    }
    const auth: AuthOptions = {
      issuer: options.issuer,
      audience: options.audience,
      identityClaim: options.identityClaim,
      roleClaims: list(options.roleClaims),
    };
    if (options.jwks) {
      if (/^https?:\/\//.test(options.jwks)) auth.jwksUrl = options.jwks;
      else auth.jwksFile = options.jwks;
    } else {
      try {
        auth.publicKeyPem = await readFile(options.publicKey as string, 'utf8');
      } catch (err) {
        return failed(cli, `cannot read the public key ${options.publicKey}: ${(err as Error).message}`);
      }
    }

    // The keys first: a key file that cannot be read is reported without waiting for a Temporal server.
    const authenticator = createAuthenticator(auth);
    try {
      await authenticator.ready();
    } catch (err) {
      return failed(cli, (err as Error).message);
    }
    let api: Awaited<ReturnType<typeof startHttpApi>>;
    try {
      const client = await cli.client();
      api = await startHttpApi({ client, auth: authenticator, port, host: options.host, taskQueue: options.taskQueue, starterRoles: list(options.starterRoles) });
    } catch (err) {
      return failed(cli, `the API did not start: ${(err as Error).message}`);
    }
    if (options.json) cli.out(JSON.stringify({ listening: api.url, openapi: `${api.url}/openapi.json` }));
    else cli.out(`canary api listening on ${api.url} (OpenAPI: ${api.url}/openapi.json)`);
    await cli.interrupted();
    await api.close();
  });
}

function usage(cli: CliContext, message: string): void {
  cli.err(`canary api: ${message}`);
  cli.fail(ExitCode.Usage);
}

function failed(cli: CliContext, message: string): void {
  cli.err(`canary api: ${message}`);
  cli.fail(ExitCode.Failed);
}
