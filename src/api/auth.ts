/**
 * Who is calling the HTTP API, and what they may do.
 *
 * Authentication: a bearer JWT (`Authorization: Bearer <jwt>`) verified against exactly one key source — a JWKS URL
 * (fetched and cached by jose, refetched when an unknown `kid` appears), a JWKS file, an in-memory JWKS, or one PEM
 * public key (SPKI). `iss` and `aud` are checked when configured; `exp` and `nbf` always. The acting identity is the
 * `sub` claim (or another claim, e.g. `email`); the caller's roles are the union of the role claims (default `roles`
 * and `groups`; a dotted name such as `realm_access.roles` reads a nested claim; a claim may be a list of strings or
 * one string of names separated by spaces or commas).
 *
 * Authorization ({@link authorize}) is pure: it decides from the caller and the rollout's plan.
 * - start: one of the starter roles (default `release-manager`) among the caller's roles.
 * - approve, reject, consume-token for role R: R among the caller's roles. The plan's own rules (membership,
 *   signatures, what is waiting) are enforced by the rollout, which refuses with its reason.
 * - attest: one of the plan's roles among the caller's roles (the check's own role is enforced by the rollout).
 * - pause, resume, abort, rollback, promote, kill: a role the plan grants for the command (`controls.operators`, and
 *   `controls.safety` for pause, rollback, abort and kill: `grantedOperatorRoles`, the rule the rollout enforces);
 *   when it grants none, only the plan's owner. The role sent with the command is one the caller holds, preferring one
 *   whose plan members include the caller, so the rollout's membership check can pass.
 * - promote with force: a role in `controls.forcePromote.roles`; a plan without that list lets nobody force-promote
 *   through the API.
 * A plan that defines no roles therefore lets nobody change a rollout through the API except by starting it.
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  type KeyLike,
} from 'jose';
import type { Plan } from '../plan/schema';
import type { OperatorCommand } from '../domain/types';
import { grantedOperatorRoles } from '../domain/machine';

// ---------------------------------------------------------------------------------------------------------------
// Authentication

/** Where the token keys come from (exactly one) and which claims to check and read. */
export interface AuthOptions {
  /** A JWKS URL, e.g. `https://idp.example.com/.well-known/jwks.json`. */
  jwksUrl?: string;
  /** A JWKS file (JSON `{ "keys": [...] }`), read once. */
  jwksFile?: string;
  /** An in-memory JWKS. */
  jwks?: JSONWebKeySet;
  /** One public key, PEM (`-----BEGIN PUBLIC KEY-----`); its algorithm follows from the key type. */
  publicKeyPem?: string;
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required `aud` (one of them, when a list), when set. */
  audience?: string | string[];
  /** The claim naming the acting identity; default `sub`. */
  identityClaim?: string;
  /** Claims holding role or group names; default `roles` and `groups`. */
  roleClaims?: string[];
  /** Leeway for `exp` and `nbf`, in seconds; default 30. */
  clockToleranceSeconds?: number;
  /** The clock for `exp` and `nbf` (tests); default `Date.now`. */
  now?: () => number;
}

/** An authenticated caller. */
export interface Caller {
  /** The value of the identity claim: the `by` of every message this caller sends. */
  identity: string;
  /** Role and group names from the role claims, without duplicates. */
  roles: string[];
}

/** The outcome of authenticating a request: a caller, or why not in words (answered with 401). */
export type Authentication = { ok: true; caller: Caller } | { ok: false; error: 'missing-token' | 'invalid-token'; detail: string };

/** Verifies bearer tokens. */
export interface Authenticator {
  /** Authenticates the value of an Authorization header. Never throws for a bad token. */
  authenticate(authorization: string | undefined): Promise<Authentication>;
  /** Loads the configured keys now (a file, a PEM key), so a configuration mistake shows at startup; throws then. */
  ready(): Promise<void>;
}

/**
 * Builds an {@link Authenticator}. Throws at once when not exactly one key source is configured; a key file that
 * cannot be read or parsed makes {@link Authenticator.ready} throw (and each request answer 401 until fixed).
 */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const sources = (['jwksUrl', 'jwksFile', 'jwks', 'publicKeyPem'] as const).filter((k) => options[k] !== undefined);
  if (sources.length !== 1) {
    throw new Error(
      sources.length === 0
        ? 'no token keys are configured: give a JWKS URL or file (--jwks) or a public key (--public-key)'
        : `configure one token key source, not ${sources.join(' and ')}`,
    );
  }
  const identityClaim = options.identityClaim ?? 'sub';
  const roleClaims = options.roleClaims ?? ['roles', 'groups'];
  let keys: Promise<{ getKey: JWTVerifyGetKey | KeyLike; algorithms?: string[] }> | undefined;
  const loadKeys = () => (keys ??= resolveKeys(options));

  return {
    async ready() {
      await loadKeys();
    },
    async authenticate(authorization) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
      if (!token) return { ok: false, error: 'missing-token', detail: 'send a bearer token: Authorization: Bearer <JWT>' };
      let payload: JWTPayload;
      try {
        const { getKey, algorithms } = await loadKeys();
        const verifyOptions = {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          clockTolerance: options.clockToleranceSeconds ?? 30,
          currentDate: options.now ? new Date(options.now()) : undefined,
        };
        // jwtVerify is overloaded on the key's type; the two calls keep each overload's types.
        ({ payload } = typeof getKey === 'function' ? await jwtVerify(token, getKey, verifyOptions) : await jwtVerify(token, getKey, verifyOptions));
      } catch (err) {
        return { ok: false, error: 'invalid-token', detail: tokenProblem(err) };
      }
      const identity = claimAt(payload, identityClaim);
      if (typeof identity !== 'string' || identity.trim() === '') {
        return { ok: false, error: 'invalid-token', detail: `the token has no ${identityClaim} claim naming the caller` };
      }
      return { ok: true, caller: { identity, roles: [...new Set(roleClaims.flatMap((name) => namesIn(claimAt(payload, name))))] } };
    },
  };
}

async function resolveKeys(options: AuthOptions): Promise<{ getKey: JWTVerifyGetKey | KeyLike; algorithms?: string[] }> {
  if (options.jwksUrl) return { getKey: createRemoteJWKSet(new URL(options.jwksUrl)) };
  if (options.jwks) return { getKey: createLocalJWKSet(options.jwks) };
  if (options.jwksFile) {
    let set: JSONWebKeySet;
    try {
      set = JSON.parse(await readFile(options.jwksFile, 'utf8')) as JSONWebKeySet;
    } catch (err) {
      throw new Error(`cannot read the JWKS file ${options.jwksFile}: ${(err as Error).message}`);
    }
    if (!Array.isArray(set?.keys)) throw new Error(`the JWKS file ${options.jwksFile} has no "keys" list`);
    return { getKey: createLocalJWKSet(set) };
  }
  const pem = options.publicKeyPem as string;
  const alg = algorithmOf(pem);
  // Pinning the algorithm to the key's type refuses tokens that name another one (algorithm confusion).
  return { getKey: await importSPKI(pem, alg), algorithms: [alg] };
}

/** The JWS algorithm a PEM public key verifies: RS256, PS256, ES256/384/512 by curve, or EdDSA. */
function algorithmOf(pem: string): string {
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`the public key is not a PEM public key: ${(err as Error).message}`);
  }
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ed25519':
      return 'EdDSA';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const alg = curve === 'prime256v1' ? 'ES256' : curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : undefined;
      if (alg) return alg;
      throw new Error(`the public key's curve ${curve} is not one JWTs are signed with (P-256, P-384, P-521)`);
    }
    default:
      throw new Error(`a ${key.asymmetricKeyType} public key cannot verify JWTs; use an RSA, EC or Ed25519 key`);
  }
}

/** Why a token was not accepted, in words; never the token itself. */
function tokenProblem(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `the token's ${err.claim} claim is not accepted: ${err.reason === 'check_failed' ? err.message : err.reason}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify against the configured keys';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no configured key matches the token (kid and algorithm)';
  if (err instanceof errors.JOSEAlgNotAllowed) return "the token's algorithm is not the one the configured key verifies";
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return 'the bearer token is not a well-formed signed JWT';
  if (err instanceof errors.JWKSTimeout) return 'the JWKS URL did not answer in time; try again';
  if (err instanceof errors.JOSEError) return `the token is not accepted: ${err.message}`;
  return `the token keys could not be loaded: ${(err as Error).message}`;
}

/** A claim by name; a dotted name (`realm_access.roles`) walks into nested objects when no claim has that exact name. */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function namesIn(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v !== '');
  return [];
}

// ---------------------------------------------------------------------------------------------------------------
// Authorization (pure)

/** What a caller asks to do. */
export type ApiAction =
  | { kind: 'start'; starterRoles: readonly string[] }
  | { kind: 'decide'; action: 'approve' | 'reject' | 'consume-token'; role: string }
  | { kind: 'attest' }
  | { kind: 'operate'; command: OperatorCommand; role?: string };

/** Allowed (with the role to act in, for operator commands), or refused with what is missing (answered with 403). */
export type Permission = { ok: true; role?: string } | { ok: false; detail: string };

/** Decides whether `caller` may do `action` on a rollout of `plan` (the module header states the rules). */
export function authorize(caller: Caller, action: ApiAction, plan?: Plan): Permission {
  const held = (roles: readonly string[]) => roles.filter((r) => caller.roles.includes(r));
  const missing = (what: string, roles: readonly string[]) => ({
    ok: false as const,
    detail: `${what} needs ${roles.length === 1 ? `the role ${roles[0]}` : `one of the roles ${roles.join(', ')}`}; the token of ${caller.identity} carries ${
      caller.roles.length ? caller.roles.join(', ') : 'no roles'
    }`,
  });
  switch (action.kind) {
    case 'start':
      return held(action.starterRoles).length ? { ok: true } : missing('starting a rollout', action.starterRoles);
    case 'decide':
      return caller.roles.includes(action.role) ? { ok: true } : missing(`${action.action} as ${action.role}`, [action.role]);
    case 'attest': {
      const roles = Object.keys(plan?.roles ?? {});
      if (roles.length === 0) return { ok: false, detail: 'this plan defines no roles, so nobody may attest through the API' };
      return held(roles).length ? { ok: true } : missing('attesting', roles);
    }
    case 'operate': {
      const what = action.command === 'force-promote' ? 'promote with force' : action.command;
      // The same grants the rollout itself enforces (grantedOperatorRoles); the rollout has the last word.
      const allowed = plan ? grantedOperatorRoles(plan, action.command) : [];
      if (allowed.length === 0) {
        if (action.command === 'force-promote') return { ok: false, detail: 'this plan names no controls.forcePromote roles, so nobody may promote with force' };
        if (plan?.owner && caller.identity === plan.owner) return { ok: true };
        return { ok: false, detail: `this plan grants ${what} to no role (controls.operators${action.command === 'resume' || action.command === 'promote' ? '' : ' or controls.safety'}), so only its owner${plan?.owner ? ` ${plan.owner}` : ''} may` };
      }
      const candidates = held(allowed);
      if (action.role !== undefined) {
        if (!caller.roles.includes(action.role)) return missing(`${what} as ${action.role}`, [action.role]);
        return allowed.includes(action.role) ? { ok: true, role: action.role } : missing(what, allowed);
      }
      if (candidates.length === 0) return missing(what, allowed);
      const member = candidates.find((r) => plan?.roles[r]?.members.includes(caller.identity));
      return { ok: true, role: member ?? candidates[0] };
    }
  }
}
