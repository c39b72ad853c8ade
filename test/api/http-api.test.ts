import { createPublicKey, type KeyObject } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, type KeyLike, SignJWT } from 'jose';
import { parse as parseYaml } from 'yaml';
import { createHttpApi } from '../../src/api/http-api';
import { startHttpApi, type RunningHttpApi } from '../../src/api/serve';
import { getRollout, rolloutResult, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { RolloutResult } from '../../src/domain/types';
import { signDecision } from '../../src/providers/identity/approval-signature';
import type { MessageOutcome, RolloutStatusView } from '../../src/workflows/messages';
import { approverKeyPair, startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';

const TASK_QUEUE = 'http-api-test';
const ISSUER = 'https://idp.example.com/';
const AUDIENCE = 'canary-api';

/** A plan whose CFO approvals must be signed; `flag` makes the workflow id (rollout:<flag>:api) unique per test. */
const planText = (flag: string) => `
apiVersion: canary/v1
id: api-${flag}
name: HTTP API ${flag}
target: { flags: [${flag}], provider: flagd, environment: api }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  cfo: { members: [cfo@example.com], signatureRequired: true, keys: [cfo-2026] }
  release-manager: { members: [rm@example.com] }
  sre: { members: [sre@example.com] }
controls:
  operators: [sre]
  forcePromote: { roles: [release-manager] }
analysis: { interval: 1s }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - name: canary-50
    percent: 50
    minDuration: 1s
    approvals: [{ role: cfo }]
  - { name: full, percent: 100, minDuration: 1s }
`;

describe('the HTTP API on a dev server with the rollout worker', () => {
  let dev: DevRollouts;
  let env: DevRollouts['env'];
  let api: RunningHttpApi;
  let issuerKey: KeyLike;
  let cfoKey: JWK;

  beforeAll(async () => {
    const issuer = await generateKeyPair('RS256');
    issuerKey = issuer.privateKey;
    const cfo = await approverKeyPair('cfo-2026');
    cfoKey = cfo.privateKey;
    dev = await startDevRollouts({ taskQueue: TASK_QUEUE, approverKeys: [cfo.publicKey] });
    env = dev.env;
    api = await startHttpApi({
      client: env.client,
      taskQueue: TASK_QUEUE,
      port: 0,
      auth: { jwks: { keys: [{ ...(await exportJWK(issuer.publicKey)), kid: 'idp-1', alg: 'RS256' }] }, issuer: ISSUER, audience: AUDIENCE },
      rateLimit: false,
    });
  });

  afterAll(async () => {
    await api?.close();
    await dev?.stop();
  });

  const token = (sub: string, roles: string[], claims: { aud?: string; exp?: number } = {}) =>
    new SignJWT({ roles })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(claims.aud ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? '10m')
      .sign(issuerKey);
  const rm = () => token('rm@example.com', ['release-manager']);
  const sre = () => token('sre@example.com', ['sre']);
  const cfo = () => token('cfo@example.com', ['cfo']);

  async function call(method: 'GET' | 'POST', path: string, options: { bearer?: string; body?: unknown; text?: string; type?: string } = {}) {
    const headers: Record<string, string> = {};
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    let body: string | undefined;
    if (options.text !== undefined) {
      body = options.text;
      headers['content-type'] = options.type ?? 'application/yaml';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const response = await fetch(`${api.url}${path}`, { method, headers, body });
    return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
  }
  const rolloutPath = (flag: string) => `/rollouts/${encodeURIComponent(`rollout:${flag}:api`)}`;

  it('answers 401 with a Bearer challenge without a token, and for a forged, expired or wrong-audience token', async () => {
    const none = await call('GET', '/rollouts');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="canary"');
    expect(none.json).toEqual({ error: 'unauthorized', detail: expect.stringContaining('Authorization: Bearer') });
    expect((await call('POST', '/rollouts', { text: planText('api-unauth') })).status).toBe(401);

    const stranger = await generateKeyPair('RS256');
    const forged = await new SignJWT({ roles: ['release-manager'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
      .setSubject('rm@example.com')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('10m')
      .sign(stranger.privateKey);
    const rejected = await call('GET', '/rollouts', { bearer: forged });
    expect(rejected.status).toBe(401);
    expect(rejected.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect(rejected.json.detail).toMatch(/signature does not verify/);

    const expired = await call('GET', '/rollouts', { bearer: await token('rm@example.com', ['release-manager'], { exp: Math.floor(Date.now() / 1000) - 3600 }) });
    expect(expired.json).toEqual({ error: 'unauthorized', detail: 'the token has expired' });
    const elsewhere = await call('GET', '/rollouts', { bearer: await token('rm@example.com', ['release-manager'], { aud: 'another-api' }) });
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.json.detail).toMatch(/aud/);
  });

  it('starts a rollout from YAML only for a starter role, refuses an invalid plan with its issues and a second rollout of the same target', async () => {
    const forbidden = await call('POST', '/rollouts', { bearer: await sre(), text: planText('api-start') });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.detail).toBe('starting a rollout needs the role release-manager; the token of sre@example.com carries sre');

    const invalid = await call('POST', '/rollouts?file=plans/api-start.yaml', { bearer: await rm(), text: planText('api-start').replace('percent: 50', 'percent: fifty') });
    expect(invalid.status).toBe(422);
    expect(invalid.json.error).toBe('invalid-plan');
    expect(invalid.json.issues).toEqual([expect.objectContaining({ file: 'plans/api-start.yaml', path: 'phases[1].percent', line: expect.any(Number) })]);
    // Neither refusal started anything.
    expect((await call('GET', rolloutPath('api-start'), { bearer: await rm() })).status).toBe(404);

    const started = await call('POST', '/rollouts', { bearer: await rm(), text: planText('api-start') });
    expect(started.status).toBe(201);
    expect(started.json).toEqual({ workflowId: 'rollout:api-start:api', runId: expect.any(String), planId: 'api-api-start' });
    expect(started.headers.get('location')).toBe(rolloutPath('api-start'));
    const again = await call('POST', '/rollouts', { bearer: await rm(), text: planText('api-start') });
    expect(again.status).toBe(409);
    expect(again.json.detail).toMatch(/rollout:api-start:api .* is running/);

    const status = await call('GET', rolloutPath('api-start'), { bearer: await sre() });
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ rolloutId: 'rollout:api-start:api', planId: 'api-api-start' });
    const listed = await call('GET', '/rollouts?running=true', { bearer: await sre() });
    expect((listed.json.rollouts as Array<{ workflowId: string }>).map((r) => r.workflowId)).toContain('rollout:api-start:api');

    const aborted = await call('POST', `${rolloutPath('api-start')}/abort`, { bearer: await sre(), body: { reason: 'test over' } });
    expect(aborted.status).toBe(200);
    expect((aborted.json as unknown as MessageOutcome).status).toMatch(/rolling-back|aborted/);
  });

  it('refuses and records unsigned and forged CFO approvals, and counts a valid signed one', async () => {
    const flag = 'api-cfo';
    const id = `rollout:${flag}:api`;
    expect((await call('POST', '/rollouts', { bearer: await rm(), body: parseYaml(planText(flag)) })).status).toBe(201);
    const approvePath = `${rolloutPath(flag)}/approve`;
    // The CFO approves entering canary-50, which the rollout waits for once it is in canary-10.
    for (let tries = 0; tries < 100; tries++) {
      if ((await call('GET', rolloutPath(flag), { bearer: await sre() })).json.phase === 'canary-10') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const wrongRole = await call('POST', approvePath, { bearer: await rm(), body: { role: 'cfo' } });
    expect(wrongRole.status).toBe(403);
    expect(wrongRole.json.detail).toBe('approve as cfo needs the role cfo; the token of rm@example.com carries release-manager');
    const namesBy = await call('POST', approvePath, { bearer: await cfo(), body: { role: 'cfo', by: 'someone@example.com' } });
    expect(namesBy.status).toBe(400);
    expect(namesBy.json.detail).toMatch(/taken from the token/);

    const unsigned = await call('POST', approvePath, { bearer: await cfo(), body: { role: 'cfo' } });
    expect(unsigned.status).toBe(409);
    expect(unsigned.json).toEqual({ error: 'refused', detail: expect.stringMatching(/approval by cfo must carry a valid signature$/) });

    const other = await generateKeyPair('ES256');
    const forgedKey = { ...(await exportJWK(other.privateKey)), kid: 'cfo-2026', alg: 'ES256' };
    const forged = await signDecision({ rollout: id, action: 'approve', role: 'cfo', by: 'cfo@example.com', id: 'api-cfo-forged' }, forgedKey);
    const refused = await call('POST', approvePath, { bearer: await cfo(), body: { role: 'cfo', id: 'api-cfo-forged', signature: forged } });
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toMatch(/signature does not verify against the cfo keys/);

    const signature = await signDecision({ rollout: id, action: 'approve', role: 'cfo', by: 'cfo@example.com', id: 'api-cfo-signed' }, cfoKey);
    const counted = await call('POST', approvePath, { bearer: await cfo(), body: { role: 'cfo', id: 'api-cfo-signed', signature, reason: 'budget ok' } });
    expect(counted.status).toBe(200);
    const approval = (counted.json as unknown as MessageOutcome).log.find((e) => e.action === 'approve');
    expect(approval?.reason).toContain('(signature verified)');
    expect(approval?.actor).toBe('cfo@example.com');

    expect((await rolloutResult(getRollout(env.client, id))).outcome).toBe('completed');
    const report = await call('GET', `${rolloutPath(flag)}/report`, { bearer: await sre() });
    expect(report.status).toBe(200);
    const record = report.json as unknown as { running: boolean; result: RolloutResult };
    expect(record.running).toBe(false);
    expect(record.result.opsLog.filter((e) => e.action === 'refuse').map((e) => e.reason)).toEqual([
      expect.stringMatching(/approval by cfo must carry a valid signature$/),
      expect.stringMatching(/must carry a valid signature: signature does not verify/),
    ]);
    expect(record.result.opsLog.filter((e) => e.action === 'approve' && e.reason.includes('signature verified'))).toHaveLength(1);
    expect(record.result.decisions.length).toBeGreaterThan(0);
  });

  it('lets only operator roles pause and resume, plan roles attest, and only forcePromote roles promote with force', async () => {
    const flag = 'api-ops';
    expect((await call('POST', '/rollouts', { bearer: await rm(), text: planText(flag) })).status).toBe(201);
    const path = rolloutPath(flag);

    const notOperator = await call('POST', `${path}/pause`, { bearer: await rm(), body: { reason: 'look' } });
    expect(notOperator.status).toBe(403);
    expect(notOperator.json.detail).toBe('pause needs the role sre; the token of rm@example.com carries release-manager');

    const paused = await call('POST', `${path}/pause`, { bearer: await sre(), body: { reason: 'look at dashboards' } });
    expect(paused.status).toBe(200);
    expect((paused.json as unknown as MessageOutcome).status).toBe('paused');
    expect(((await call('GET', path, { bearer: await rm() })).json as unknown as RolloutStatusView).status).toBe('paused');
    const resumed = await call('POST', `${path}/resume`, { bearer: await sre(), body: {} });
    expect(resumed.status).toBe(200);
    const nothing = await call('POST', `${path}/resume`, { bearer: await sre() });
    expect(nothing.status).toBe(409);
    expect(nothing.json.detail).toMatch(/nothing to resume/);

    const viewer = await call('POST', `${path}/attest`, { bearer: await token('v@example.com', ['viewer']), body: { check: 'smoke' } });
    expect(viewer.status).toBe(403);
    expect(viewer.json.detail).toBe('attesting needs one of the roles cfo, release-manager, sre; the token of v@example.com carries viewer');
    const unknownCheck = await call('POST', `${path}/attest`, { bearer: await sre(), body: { check: 'smoke', note: 'looked fine' } });
    expect(unknownCheck).toMatchObject({ status: 409, json: { error: 'refused', detail: 'no check "smoke" in this plan takes an attestation' } });

    const sreForce = await call('POST', `${path}/promote`, { bearer: await sre(), body: { force: true, reason: 'hotfix' } });
    expect(sreForce.status).toBe(403);
    expect(sreForce.json.detail).toMatch(/promote with force needs the role release-manager/);
    const noReason = await call('POST', `${path}/promote`, { bearer: await rm(), body: { force: true } });
    expect(noReason.status).toBe(409);
    expect(noReason.json.detail).toMatch(/needs a reason/);
    const forced = await call('POST', `${path}/promote`, { bearer: await rm(), body: { force: true, reason: 'hotfix must ship' } });
    expect(forced.status).toBe(200);
    expect((forced.json as unknown as MessageOutcome).log.map((e) => e.action)).toContain('force-promote');

    const result = await rolloutResult(getRollout(env.client, `rollout:${flag}:api`));
    expect(result.outcome).toBe('completed');
    expect(result.opsLog.find((e) => e.action === 'force-promote')?.actor).toBe('rm@example.com');
    expect(result.opsLog.find((e) => e.action === 'pause')?.actor).toBe('sre@example.com');
  });

  it('answers 404 for a rollout that does not exist and 400 for a body it cannot use', async () => {
    const missing = await call('GET', rolloutPath('api-none'), { bearer: await sre() });
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe('not-found');
    expect((await call('POST', `${rolloutPath('api-none')}/pause`, { bearer: await sre(), body: {} })).status).toBe(404);
    expect((await call('POST', `${rolloutPath('api-none')}/approve`, { bearer: await cfo(), body: { role: 'cfo' } })).status).toBe(404);
    const noRole = await call('POST', `${rolloutPath('api-none')}/approve`, { bearer: await cfo(), body: {} });
    expect(noRole.status).toBe(400);
    expect(noRole.json.detail).toMatch(/^role: /);
    const notJson = await call('POST', `${rolloutPath('api-none')}/approve`, { bearer: await cfo(), text: '{role', type: 'application/json' });
    expect(notJson).toMatchObject({ status: 400, json: { error: 'bad-request', detail: 'the body is not JSON' } });
    expect((await call('GET', '/rollouts?limit=0', { bearer: await sre() })).status).toBe(400);
  });

  it('limits changes per subject with a token bucket and answers 429 with Retry-After', async () => {
    let now = Date.now();
    // An app of its own (in-process, no port) with a small bucket and a clock the test moves.
    const keyed = createHttpApi({
      client: env.client,
      auth: { publicKeyPem: createPublicKey(issuerKey as KeyObject).export({ type: 'spki', format: 'pem' }) as string },
      rateLimit: { capacity: 2, refillPerSecond: 1 / 60 },
      now: () => now,
    });
    const post = async (bearer: string) =>
      keyed.request(`${rolloutPath('api-none')}/pause`, { method: 'POST', headers: { authorization: `Bearer ${bearer}` }, body: '{}' });
    const sreToken = await sre();
    expect((await post(sreToken)).status).toBe(404);
    expect((await post(sreToken)).status).toBe(404);
    const limited = await post(sreToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(await limited.json()).toEqual({ error: 'rate-limited', detail: 'too many changes by sre@example.com; retry in 60 s' });
    // Another subject has its own bucket; reads are not limited.
    expect((await post(await rm())).status).toBe(404);
    expect((await keyed.request('/rollouts?limit=1', { headers: { authorization: `Bearer ${sreToken}` } })).status).toBe(200);
    now += 60_000;
    expect((await post(sreToken)).status).toBe(404);
  });

  it('serves an OpenAPI document without a token', async () => {
    const doc = await call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toBe('3.0.3');
    expect(Object.keys(doc.json.paths as object)).toContain('/rollouts/{id}/approve');
  });

  it('answers at once when no worker polls the rollout\'s task queue, and says when a rollout is finished', async () => {
    const flag = 'api-noworker';
    const loaded = parsePlanText(planText(flag), 'noworker.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const handle = await startRollout(env.client, loaded.plan, { workflowId: `rollout:${flag}:api`, taskQueue: 'nobody-polls-this' });

    const status = await call('GET', rolloutPath(flag), { bearer: await sre() });
    expect(status.status).toBe(503);
    expect(status.json).toEqual({ error: 'no-worker', detail: expect.stringMatching(/^no worker is polling task queue nobody-polls-this on namespace default: .*canary worker --task-queue nobody-polls-this/) });
    const paused = await call('POST', `${rolloutPath(flag)}/pause`, { bearer: await sre(), body: { reason: 'look' } });
    expect(paused.status).toBe(503);

    await handle.terminate('test over');
    const approved = await call('POST', `${rolloutPath(flag)}/approve`, { bearer: await rm(), body: { role: 'release-manager' } });
    expect(approved.status).toBe(409);
    expect(approved.json).toEqual({ error: 'finished', detail: expect.stringMatching(/^rollout:api-noworker:api is finished \(terminated at \d{4}-.*Z\); nothing more can be sent to it$/) });
  });
});
