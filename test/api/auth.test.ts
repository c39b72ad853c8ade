import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type KeyLike, SignJWT } from 'jose';
import { authorize, type Caller, createAuthenticator } from '../../src/api/auth';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';

const PLAN = `
apiVersion: canary/v1
id: auth
name: Auth
target: { flags: [f], provider: flagd, environment: test }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
roles:
  cfo: { members: [cfo@example.com], signatureRequired: true, keys: [cfo-2026] }
  release-manager: { members: [rm@example.com, lead@example.com] }
  sre: { members: [sre@example.com] }
  oncall: { members: [lead@example.com] }
controls:
  operators: [sre, oncall]
  forcePromote: { roles: [release-manager] }
phases:
  - { name: canary, percent: 10 }
  - { name: full, percent: 100 }
`;

function plan(text = PLAN): Plan {
  const parsed = parsePlanText(text, 'auth.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.plan;
}

describe('bearer token authentication', () => {
  let privateKey: KeyLike;
  let publicJwk: JWK;
  let pem: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
    pem = await exportSPKI(pair.publicKey);
  });

  const sign = (claims: Record<string, unknown>, options: { sub?: string; iss?: string; aud?: string; key?: KeyLike } = {}) => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('5m');
    if (options.sub !== undefined) jwt.setSubject(options.sub);
    if (options.iss) jwt.setIssuer(options.iss);
    if (options.aud) jwt.setAudience(options.aud);
    return jwt.sign(options.key ?? privateKey);
  };

  it('reads the subject and the union of the roles and groups claims', async () => {
    const auth = createAuthenticator({ jwks: { keys: [publicJwk] } });
    const result = await auth.authenticate(`Bearer ${await sign({ roles: ['sre'], groups: 'cfo release-manager,sre' }, { sub: 'a@example.com' })}`);
    expect(result).toEqual({ ok: true, caller: { identity: 'a@example.com', roles: ['sre', 'cfo', 'release-manager'] } });
  });

  it('takes the identity and roles from configured claims, including a nested one', async () => {
    const auth = createAuthenticator({ publicKeyPem: pem, identityClaim: 'email', roleClaims: ['realm_access.roles'] });
    const token = await sign({ email: 'b@example.com', roles: ['ignored'], realm_access: { roles: ['sre'] } }, { sub: 'opaque-id' });
    expect(await auth.authenticate(`Bearer ${token}`)).toEqual({ ok: true, caller: { identity: 'b@example.com', roles: ['sre'] } });
  });

  it('verifies against a JWKS file and a JWKS URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-auth-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [publicJwk] }));
    const token = `Bearer ${await sign({ roles: ['sre'] }, { sub: 'c@example.com' })}`;
    expect(await createAuthenticator({ jwksFile: join(dir, 'jwks.json') }).authenticate(token)).toMatchObject({ ok: true });

    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      expect(await createAuthenticator({ jwksUrl: url }).authenticate(token)).toMatchObject({ ok: true, caller: { identity: 'c@example.com' } });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a missing header, a token from another key, the wrong issuer or audience, and a token without a subject', async () => {
    const auth = createAuthenticator({ jwks: { keys: [publicJwk] }, issuer: 'https://idp', audience: 'canary' });
    expect(await auth.authenticate(undefined)).toMatchObject({ ok: false, error: 'missing-token' });
    expect(await auth.authenticate('Basic dXNlcjpwdw==')).toMatchObject({ ok: false, error: 'missing-token' });
    const other = await generateKeyPair('ES256');
    const forged = await sign({}, { sub: 'x', iss: 'https://idp', aud: 'canary', key: other.privateKey });
    expect(await auth.authenticate(`Bearer ${forged}`)).toEqual({ ok: false, error: 'invalid-token', detail: 'the token signature does not verify against the configured keys' });
    const wrongIssuer = await auth.authenticate(`Bearer ${await sign({}, { sub: 'x', iss: 'https://evil', aud: 'canary' })}`);
    expect(wrongIssuer).toMatchObject({ ok: false, detail: expect.stringContaining("token's iss claim") });
    const wrongAudience = await auth.authenticate(`Bearer ${await sign({}, { sub: 'x', iss: 'https://idp', aud: 'other' })}`);
    expect(wrongAudience).toMatchObject({ ok: false, detail: expect.stringContaining("token's aud claim") });
    const anonymous = await auth.authenticate(`Bearer ${await sign({ roles: ['sre'] }, { iss: 'https://idp', aud: 'canary' })}`);
    expect(anonymous).toEqual({ ok: false, error: 'invalid-token', detail: 'the token has no sub claim naming the caller' });
    expect(await auth.authenticate('Bearer not-a-jwt')).toMatchObject({ ok: false, detail: 'the bearer token is not a well-formed signed JWT' });
  });

  it('refuses an expired token by the configured clock', async () => {
    const token = `Bearer ${await sign({}, { sub: 'x' })}`;
    const later = createAuthenticator({ jwks: { keys: [publicJwk] }, now: () => Date.now() + 3_600_000 });
    expect(await later.authenticate(token)).toEqual({ ok: false, error: 'invalid-token', detail: 'the token has expired' });
  });

  it('needs exactly one key source and reports an unreadable key file when getting ready', async () => {
    expect(() => createAuthenticator({})).toThrow(/no token keys are configured/);
    expect(() => createAuthenticator({ jwksFile: 'a.json', publicKeyPem: pem })).toThrow(/one token key source, not jwksFile and publicKeyPem/);
    await expect(createAuthenticator({ jwksFile: '/nonexistent/jwks.json' }).ready()).rejects.toThrow(/cannot read the JWKS file \/nonexistent\/jwks.json/);
    await expect(createAuthenticator({ publicKeyPem: 'not a key' }).ready()).rejects.toThrow(/not a PEM public key/);
  });
});

describe('authorization by role', () => {
  const caller = (identity: string, ...roles: string[]): Caller => ({ identity, roles });
  const p = plan();

  it('lets only starter roles start a rollout', () => {
    expect(authorize(caller('rm@example.com', 'release-manager'), { kind: 'start', starterRoles: ['release-manager'] })).toEqual({ ok: true });
    expect(authorize(caller('sre@example.com', 'sre'), { kind: 'start', starterRoles: ['release-manager', 'deployer'] })).toEqual({
      ok: false,
      detail: 'starting a rollout needs one of the roles release-manager, deployer; the token of sre@example.com carries sre',
    });
  });

  it('needs the approving role among the token roles and leaves membership to the rollout', () => {
    expect(authorize(caller('anyone@example.com', 'cfo'), { kind: 'decide', action: 'approve', role: 'cfo' })).toEqual({ ok: true });
    expect(authorize(caller('cfo@example.com'), { kind: 'decide', action: 'consume-token', role: 'cfo' })).toEqual({
      ok: false,
      detail: 'consume-token as cfo needs the role cfo; the token of cfo@example.com carries no roles',
    });
  });

  it('picks the operator role whose members include the caller', () => {
    expect(authorize(caller('lead@example.com', 'sre', 'oncall'), { kind: 'operate', command: 'pause' }, p)).toEqual({ ok: true, role: 'oncall' });
    expect(authorize(caller('x@example.com', 'sre', 'oncall'), { kind: 'operate', command: 'pause' }, p)).toEqual({ ok: true, role: 'sre' });
    expect(authorize(caller('rm@example.com', 'release-manager'), { kind: 'operate', command: 'abort' }, p)).toMatchObject({
      ok: false,
      detail: 'abort needs one of the roles sre, oncall; the token of rm@example.com carries release-manager',
    });
    expect(authorize(caller('lead@example.com', 'sre', 'oncall'), { kind: 'operate', command: 'kill', role: 'sre' }, p)).toEqual({ ok: true, role: 'sre' });
    expect(authorize(caller('lead@example.com', 'oncall'), { kind: 'operate', command: 'kill', role: 'sre' }, p)).toMatchObject({ ok: false });
  });

  it('lets only the plan owner operate when the plan grants no operator roles', () => {
    const ungranted = plan(PLAN.replace('  operators: [sre, oncall]\n', '').replace('name: Auth\n', 'name: Auth\nowner: owner@example.com\n'));
    expect(authorize(caller('cfo@example.com', 'cfo'), { kind: 'operate', command: 'resume' }, ungranted)).toEqual({
      ok: false,
      detail: 'this plan grants resume to no role (controls.operators), so only its owner owner@example.com may',
    });
    expect(authorize(caller('owner@example.com'), { kind: 'operate', command: 'rollback' }, ungranted)).toEqual({ ok: true });
  });

  it('lets controls.safety roles pause, roll back, abort and kill, but not resume or promote', () => {
    const safety = plan(PLAN.replace('  operators: [sre, oncall]\n', '  operators: [sre]\n  safety: [oncall]\n'));
    expect(authorize(caller('lead@example.com', 'oncall'), { kind: 'operate', command: 'rollback' }, safety)).toEqual({ ok: true, role: 'oncall' });
    expect(authorize(caller('lead@example.com', 'oncall'), { kind: 'operate', command: 'resume' }, safety)).toMatchObject({ ok: false, detail: expect.stringMatching(/^resume needs the role sre/) });
  });

  it('lets only forcePromote roles promote with force, and nobody when the plan names none', () => {
    expect(authorize(caller('rm@example.com', 'release-manager'), { kind: 'operate', command: 'force-promote' }, p)).toEqual({ ok: true, role: 'release-manager' });
    expect(authorize(caller('sre@example.com', 'sre'), { kind: 'operate', command: 'force-promote' }, p)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^promote with force needs the role release-manager/),
    });
    const none = plan(PLAN.replace('  forcePromote: { roles: [release-manager] }\n', ''));
    expect(authorize(caller('rm@example.com', 'release-manager'), { kind: 'operate', command: 'force-promote' }, none)).toEqual({
      ok: false,
      detail: 'this plan names no controls.forcePromote roles, so nobody may promote with force',
    });
  });

  it('lets plan roles attest', () => {
    expect(authorize(caller('sre@example.com', 'sre'), { kind: 'attest' }, p)).toEqual({ ok: true });
    expect(authorize(caller('x@example.com', 'viewer'), { kind: 'attest' }, p)).toMatchObject({ ok: false });
  });
});
