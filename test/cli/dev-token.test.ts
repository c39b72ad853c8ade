/**
 * `canary dev-token`: the key pair it keeps and the tokens it mints, checked with the HTTP API's own verifier
 * (src/api/auth.ts) configured the way the command says to start `canary api`.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthenticator } from '../../src/api/auth';
import { main } from '../../src/cli/main';

const dir = mkdtempSync(join(tmpdir(), 'canary-dev-token-'));
const keys = join(dir, 'keys');

async function canary(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    argv,
    { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } },
    { env: { ...process.env, CANARY_USER: 'alice@example.com' } },
  );
  return { code, stdout, stderr };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('canary dev-token', () => {
  let token: string;

  test('makes an ES256 key pair and prints a token the API verifier accepts, with the roles and the subject', async () => {
    const run = await canary('dev-token', '--roles', 'release-manager,sre', '--subject', 'rm@example.com', '--dir', keys);
    expect(run.code).toBe(0);
    token = run.stdout.trim();
    expect(run.stdout).toBe(`${token}\n`);
    expect(run.stderr).toContain(`made a new key pair in ${keys}`);
    expect(run.stderr).toContain(`serve the API with: canary api --jwks ${join(keys, 'jwks.json')} --issuer canary-dev-token --audience canary-api\n`);
    const privateKey = JSON.parse(readFileSync(join(keys, 'private.jwk.json'), 'utf8')) as Record<string, string>;
    expect(privateKey).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', d: expect.any(String), kid: expect.any(String) });
    expect(statSync(join(keys, 'private.jwk.json')).mode & 0o777).toBe(0o600);

    const api = createAuthenticator({ jwksFile: join(keys, 'jwks.json'), issuer: 'canary-dev-token', audience: 'canary-api' });
    await expect(api.authenticate(`Bearer ${token}`)).resolves.toEqual({ ok: true, caller: { identity: 'rm@example.com', roles: ['release-manager', 'sre'] } });
    const pem = createAuthenticator({ publicKeyPem: readFileSync(join(keys, 'public.pem'), 'utf8'), issuer: 'canary-dev-token', audience: 'canary-api' });
    await expect(pem.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ ok: true, caller: { identity: 'rm@example.com' } });
  });

  test('a later run signs with the same key; --json gives the token, its claims and the files', async () => {
    const run = await canary('dev-token', '--roles', 'cfo', '--issuer', 'https://idp.test/', '--audience', 'payments', '--expires', '15m', '--role-claim', 'groups', '--dir', keys, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const minted = JSON.parse(run.stdout) as { token: string; subject: string; roles: string[]; expiresAt: string; kid: string; jwksFile: string; apiCommand: string };
    expect(minted).toMatchObject({ subject: 'alice@example.com', roles: ['cfo'], issuer: 'https://idp.test/', audience: 'payments', jwksFile: join(keys, 'jwks.json') });
    expect(Date.parse(minted.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(Date.parse(minted.expiresAt) - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    expect(minted.apiCommand).toBe(`canary api --jwks ${join(keys, 'jwks.json')} --issuer https://idp.test/ --audience payments`);
    // The key of the first run still verifies: one key pair per directory.
    const api = createAuthenticator({ jwksFile: minted.jwksFile, issuer: 'https://idp.test/', audience: 'payments' });
    await expect(api.authenticate(`Bearer ${minted.token}`)).resolves.toEqual({ ok: true, caller: { identity: 'alice@example.com', roles: ['cfo'] } });
    const first = createAuthenticator({ jwksFile: minted.jwksFile, issuer: 'canary-dev-token', audience: 'canary-api' });
    await expect(first.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ ok: true });
  });

  test('the verifier refuses the token for another audience or issuer, and once it has expired', async () => {
    const wrongAudience = createAuthenticator({ jwksFile: join(keys, 'jwks.json'), audience: 'other-api' });
    await expect(wrongAudience.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ ok: false, detail: expect.stringMatching(/aud/) });
    const wrongIssuer = createAuthenticator({ jwksFile: join(keys, 'jwks.json'), issuer: 'https://idp.example.com/' });
    await expect(wrongIssuer.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ ok: false, detail: expect.stringMatching(/iss/) });
    const later = createAuthenticator({ jwksFile: join(keys, 'jwks.json'), now: () => Date.now() + 2 * 3_600_000 });
    await expect(later.authenticate(`Bearer ${token}`)).resolves.toEqual({ ok: false, error: 'invalid-token', detail: 'the token has expired' });
  });

  test('--new-key replaces the key pair: tokens signed with the old key stop verifying', async () => {
    const run = await canary('dev-token', '--roles', 'sre', '--dir', keys, '--new-key');
    expect(run.code).toBe(0);
    const api = createAuthenticator({ jwksFile: join(keys, 'jwks.json') });
    await expect(api.authenticate(`Bearer ${run.stdout.trim()}`)).resolves.toMatchObject({ ok: true });
    await expect(api.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ ok: false });
  });

  test('usage mistakes exit 2 with one line', async () => {
    expect(await canary('dev-token', '--roles', ' , ', '--dir', keys)).toEqual({ code: 2, stdout: '', stderr: 'canary dev-token: --roles: name at least one role, e.g. --roles release-manager\n' });
    expect(await canary('dev-token', '--roles', 'sre', '--expires', 'soon', '--dir', keys)).toEqual({
      code: 2,
      stdout: '',
      stderr: 'canary dev-token: --expires: expected a duration of at least 1s such as 15m or 8h, got "soon"\n',
    });
    expect((await canary('dev-token', '--dir', keys)).code).toBe(2);
  });
});
