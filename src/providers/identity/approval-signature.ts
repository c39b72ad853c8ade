/**
 * Signed approvals: an approver (or the identity provider acting for them) signs a compact JWS over what they approve;
 * the worker verifies it against the keys the plan names for the role before the approval counts. A raw
 * `temporal workflow signal` without a valid signature therefore cannot approve for a role that requires one.
 *
 * The claims bind the signature to one decision: the rollout (workflow id), the action, the role, the approver
 * (`sub`), the subject or token, and the message id (`jti`), so a signature cannot be replayed onto another rollout,
 * role or message; the workflow ignores a repeated message id. `exp` bounds how long a signature may wait to be used.
 */
import { readFile } from 'node:fs/promises';
import { compactVerify, createLocalJWKSet, importJWK, type JSONWebKeySet, type JWK, SignJWT } from 'jose';

/** What a signature approves. */
export interface SignedDecision {
  rollout: string;
  action: 'approve' | 'reject' | 'consume-token';
  role: string;
  by: string;
  /** The message id; becomes the JWS `jti`. */
  id: string;
  subject?: string;
  token?: string;
}

/** Signs `decision` with a private JWK (ES256, EdDSA or RS256); `ttlSeconds` bounds how long it stays valid. */
export async function signDecision(decision: SignedDecision, privateKey: JWK, options: { now?: number; ttlSeconds?: number } = {}): Promise<string> {
  const alg = privateKey.alg ?? (privateKey.kty === 'OKP' ? 'EdDSA' : privateKey.kty === 'RSA' ? 'RS256' : 'ES256');
  const key = await importJWK(privateKey, alg);
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const { by, id, ...claims } = decision;
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg, ...(privateKey.kid ? { kid: privateKey.kid } : {}) })
    .setSubject(by)
    .setJti(id)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttlSeconds ?? 24 * 3600))
    .sign(key);
}

/** Finds the public keys for a role from the plan's key references (JWKS URLs, JWKS files, or key ids). */
export interface ApproverKeys {
  /** The role's public keys, or undefined when none are configured; throws when a reference cannot be read. */
  keySet(role: string, refs: readonly string[]): Promise<JSONWebKeySet | undefined>;
}

export type SignatureVerdict = { verified: true } | { verified: false; problem: string };

/**
 * Verifies `jws` for `expected` at time `at` (workflow time, so replays and time-skipping agree). Never throws: a
 * missing key, a bad signature or a claim that does not match is a verdict with the problem in words.
 */
export async function verifyDecision(jws: string, expected: SignedDecision, keys: ApproverKeys, refs: readonly string[], at: number): Promise<SignatureVerdict> {
  let set: Awaited<ReturnType<ApproverKeys['keySet']>>;
  try {
    set = await keys.keySet(expected.role, refs);
  } catch (err) {
    return { verified: false, problem: `no keys for role ${expected.role}: ${(err as Error).message}` };
  }
  if (!set) return { verified: false, problem: `no keys are configured for role ${expected.role}` };
  let claims: Record<string, unknown>;
  try {
    const { payload } = await compactVerify(jws, createLocalJWKSet(set));
    claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
  } catch (err) {
    return { verified: false, problem: `signature does not verify against the ${expected.role} keys (${(err as Error).message})` };
  }
  const mismatch = (name: string, want: unknown, got: unknown) => `signature is for ${name} ${JSON.stringify(got)}, not ${JSON.stringify(want)}`;
  const checks: Array<[string, unknown, unknown]> = [
    ['rollout', expected.rollout, claims.rollout],
    ['action', expected.action, claims.action],
    ['role', expected.role, claims.role],
    ['approver', expected.by, claims.sub],
    ['message id', expected.id, claims.jti],
  ];
  if (expected.subject !== undefined || claims.subject !== undefined) checks.push(['subject', expected.subject, claims.subject]);
  if (expected.token !== undefined || claims.token !== undefined) checks.push(['token', expected.token, claims.token]);
  for (const [name, want, got] of checks) if (want !== got) return { verified: false, problem: mismatch(name, want, got) };
  const seconds = Math.floor(at / 1000);
  if (typeof claims.exp === 'number' && seconds > claims.exp) return { verified: false, problem: `signature expired at ${new Date(claims.exp * 1000).toISOString()}` };
  if (typeof claims.iat === 'number' && claims.iat > seconds + 300) return { verified: false, problem: 'signature is issued in the future' };
  return { verified: true };
}

/**
 * The worker's default key lookup. A reference is a JWKS URL (`https://…`), a JWKS file (`file:path` or a path ending
 * in .json), or a key id looked up in the JWKS file named by the environment variable CANARY_APPROVER_JWKS.
 */
export function approverKeysFromEnvironment(env: NodeJS.ProcessEnv = process.env): ApproverKeys {
  const remote = new Map<string, { at: number; set: JSONWebKeySet }>();
  const readSet = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet;
  // Identity providers rotate keys: a fetched JWKS is reused for five minutes.
  const fetchSet = async (url: string) => {
    const cached = remote.get(url);
    if (cached && Date.now() - cached.at < 300_000) return cached.set;
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
    const set = (await response.json()) as JSONWebKeySet;
    remote.set(url, { at: Date.now(), set });
    return set;
  };
  return {
    async keySet(role, refs) {
      const keys: JWK[] = [];
      for (const ref of refs) {
        if (/^https?:\/\//.test(ref)) {
          keys.push(...(await fetchSet(ref)).keys);
          continue;
        }
        if (ref.startsWith('file:') || ref.endsWith('.json')) {
          keys.push(...(await readSet(ref.replace(/^file:/, ''))).keys);
          continue;
        }
        const file = env.CANARY_APPROVER_JWKS;
        if (!file) throw new Error(`key id ${ref} needs CANARY_APPROVER_JWKS to name a JWKS file`);
        const found = (await readSet(file)).keys.filter((k) => k.kid === ref);
        if (found.length === 0) throw new Error(`key id ${ref} is not in ${file}`);
        keys.push(...found);
      }
      return keys.length ? { keys } : undefined;
    },
  };
}
