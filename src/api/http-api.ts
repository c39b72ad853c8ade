/**
 * The authenticated HTTP API (Hono): the CLI's rollout operations over HTTP, described by the OpenAPI document at
 * `GET /openapi.json`. Talks to rollouts only through client.ts.
 *
 * Routes: `POST /rollouts` (start from a plan, YAML or JSON body), `GET /rollouts` (list), `GET /rollouts/{id}`
 * (status), `GET /rollouts/{id}/report` (decisions and the full ops log), and per rollout `POST …/approve`, `reject`,
 * `consume-token`, `attest`, `pause`, `resume`, `abort`, `rollback`, `promote` (`{force, reason}`), `kill`.
 * `GET /healthz` and `GET /openapi.json` need no token.
 *
 * Rules:
 * - Every other route needs a bearer JWT (auth.ts); without one, or with one that does not verify: 401 with
 *   `WWW-Authenticate: Bearer …`. The acting identity is the token's identity claim: every message is sent with
 *   `by` = that identity, and a body that names `by` is refused (400).
 * - What a caller may do follows from its role/group claims and the rollout's plan ({@link authorize}); a role the
 *   caller lacks answers 403 naming the roles needed. The plan is read from the first event of the rollout's current
 *   run (every run of the continue-as-new chain starts with it), once per request that needs it.
 * - The rollout has the last word: what it refuses (non-member, missing or forged signature, wrong phase, nothing to
 *   resume …) answers 409 with its reason in `detail`, and an unsigned or forged approval for a role that requires
 *   signatures is also recorded in its ops log as `refuse`.
 * - Starting needs a starter role (default `release-manager`); an invalid plan answers 422 with its issues (file,
 *   line, path, message) and starts nothing; a running rollout of the same target answers 409.
 * - Every POST is rate-limited per identity (token bucket; 429 with Retry-After).
 * - Errors are JSON `{error, detail}`; an unexpected failure answers 500 without internals and is logged.
 */
import {
  type Client,
  isGrpcServiceError,
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import {
  approve,
  attest,
  consumeToken,
  getRollout,
  listRollouts,
  operate,
  reject,
  rolloutRecord,
  RolloutRefused,
  rolloutStatus,
  describeRollout,
  endedOutcome,
  NoWorkerPolling,
  requireWorker,
  RolloutDidNotAnswer,
  withAnswerDeadline,
  startRollout,
} from '../client';
import type { OperatorCommand } from '../domain/types';
import { parsePlanText } from '../plan/load';
import type { Plan } from '../plan/schema';
import type { RolloutWorkflowInput } from '../workflows/rollout';
import type { MessageOutcome } from '../workflows/messages';
import { type ApiAction, type AuthOptions, type Authenticator, authorize, type Caller, createAuthenticator } from './auth';
import { openApiDocument } from './openapi';
import { createRateLimiter, type RateLimiter } from './rate-limit';

/** How the API is built. */
export interface HttpApiOptions {
  client: Client;
  /** The task queue rollouts are started on; default the worker's default queue. */
  taskQueue?: string;
  /** Token verification: options, or an authenticator built with {@link createAuthenticator}. */
  auth: AuthOptions | Authenticator;
  /** Roles that may start rollouts; default `['release-manager']`. */
  starterRoles?: string[];
  /** Per-identity limit on POST requests; default a burst of 30, then one every 2 seconds. `false` turns it off. */
  rateLimit?: { capacity: number; refillPerSecond: number } | false;
  /** The clock for rate limiting and token expiry (tests); default `Date.now`. */
  now?: () => number;
  /** Larger bodies answer 413; default 1 MiB. */
  maxBodyBytes?: number;
  /** Where unexpected failures are logged; default `console.error`. */
  log?: (line: string) => void;
}

type Env = { Variables: { caller: Caller } };

/** A JSON error answer. */
class Problem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly error: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

const DEFAULT_STARTER_ROLES = ['release-manager'];
const DEFAULT_RATE_LIMIT = { capacity: 30, refillPerSecond: 0.5 };

/** Builds the API as a Hono app (`app.fetch` serves it; serve.ts listens on a port). */
export function createHttpApi(options: HttpApiOptions): Hono<Env> {
  const { client } = options;
  const authenticator = 'authenticate' in options.auth ? options.auth : createAuthenticator({ now: options.now, ...options.auth });
  const starterRoles = options.starterRoles ?? DEFAULT_STARTER_ROLES;
  const limit = options.rateLimit === false ? undefined : options.rateLimit ?? DEFAULT_RATE_LIMIT;
  const limiter: RateLimiter | undefined = limit && createRateLimiter({ ...limit, now: options.now });
  const log = options.log ?? ((line: string) => console.error(line));
  const app = new Hono<Env>();

  app.onError((err, c) => {
    if (err instanceof Problem) return c.json({ error: err.error, detail: err.detail, ...err.extra }, err.status, err.headers);
    const known = temporalProblem(err);
    if (known) return c.json({ error: known.error, detail: known.detail }, known.status);
    log(`canary api: ${c.req.method} ${c.req.path} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return c.json({ error: 'internal', detail: 'the request failed unexpectedly; the API log has the details' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not-found', detail: `no route ${c.req.method} ${c.req.path}; GET /openapi.json lists the routes` }, 404));

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/openapi.json', (c) => c.json(openApiDocument));

  // Everything below needs a token.
  app.use('*', async (c, next) => {
    const result = await authenticator.authenticate(c.req.header('authorization'));
    if (!result.ok) {
      const challenge =
        result.error === 'missing-token' ? 'Bearer realm="canary"' : `Bearer realm="canary", error="invalid_token", error_description="${headerSafe(result.detail)}"`;
      throw new Problem(401, 'unauthorized', result.detail, {}, { 'WWW-Authenticate': challenge });
    }
    c.set('caller', result.caller);
    await next();
  });
  app.use('*', async (c, next) => {
    if (limiter && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const decision = limiter.take(c.get('caller').identity);
      if (!decision.allowed) {
        throw new Problem(
          429,
          'rate-limited',
          `too many changes by ${c.get('caller').identity}; retry in ${decision.retryAfterSeconds} s`,
          {},
          { 'Retry-After': String(decision.retryAfterSeconds) },
        );
      }
    }
    await next();
  });
  const maxSize = options.maxBodyBytes ?? 1 << 20;
  app.use('*', bodyLimit({ maxSize, onError: (c) => c.json({ error: 'too-large', detail: `the body is larger than ${maxSize} bytes` }, 413) }));

  // --- rollouts

  app.post('/rollouts', async (c) => {
    const permission = authorize(c.get('caller'), { kind: 'start', starterRoles });
    if (!permission.ok) throw new Problem(403, 'forbidden', permission.detail);
    const text = await c.req.text();
    const type = c.req.header('content-type') ?? '';
    if (/json/i.test(type)) {
      try {
        JSON.parse(text);
      } catch {
        throw new Problem(400, 'bad-request', 'the body is not JSON; send the plan as JSON, or as YAML with content-type application/yaml');
      }
    }
    const file = c.req.query('file') ?? 'request body';
    const loaded = parsePlanText(text, file);
    if (!loaded.ok) {
      const n = loaded.issues.length;
      throw new Problem(422, 'invalid-plan', `the plan has ${n} issue${n === 1 ? '' : 's'}; nothing was started`, { issues: loaded.issues });
    }
    let handle: Awaited<ReturnType<typeof startRollout>>;
    try {
      handle = await startRollout(client, loaded.plan, { taskQueue: options.taskQueue });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new Problem(409, 'conflict', `a rollout ${err.workflowId} of the same flags and environment is running; finish or abort it first`);
      }
      throw err;
    }
    c.header('Location', `/rollouts/${encodeURIComponent(handle.workflowId)}`);
    return c.json({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId, planId: loaded.plan.id }, 201);
  });

  app.get('/rollouts', async (c) => {
    const running = c.req.query('running');
    const limitText = c.req.query('limit');
    const count = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Problem(400, 'bad-request', 'limit: expected a whole number from 1 to 1000');
    if (running !== undefined && running !== 'true' && running !== 'false') throw new Problem(400, 'bad-request', 'running: expected true or false');
    const rollouts = await listRollouts(client, { status: c.req.query('status') || undefined, running: running === 'true', limit: count });
    return c.json({ rollouts });
  });

  /**
   * The rollout behind `id`, checked before anything would wait on its worker: a finished rollout answers 409 with how
   * and when it ended (for messages), and one whose task queue no worker polls answers 503 at once, naming the queue.
   */
  const answering = async (id: string, forMessage: boolean) => {
    const handle = getRollout(client, id);
    const execution = await describeRollout(handle);
    if (forMessage && execution.executionStatus !== 'RUNNING') {
      const { outcome } = await endedOutcome(handle, execution);
      throw new Problem(409, 'finished', `${id} is finished (${outcome}${execution.closeTime ? ` at ${execution.closeTime.toISOString()}` : ''}); nothing more can be sent to it`);
    }
    try {
      await requireWorker(client, execution.taskQueue);
    } catch (err) {
      if (!(err instanceof NoWorkerPolling)) throw err;
      throw new Problem(503, 'no-worker', `${err.message} on namespace ${client.options.namespace}: nothing answers for ${id} — start one with \`canary worker --task-queue ${execution.taskQueue}\``);
    }
    // A worker that stopped a moment ago still looks alive: the call itself is bounded too.
    const within = <T>(ms: number, fn: () => Promise<T>) =>
      withAnswerDeadline(client, execution.taskQueue, ms, fn).catch((err: unknown) => {
        if (err instanceof RolloutDidNotAnswer) throw new Problem(504, 'no-answer', `${err.message}; is a worker running for ${id}?`);
        throw err;
      });
    return { handle, within };
  };

  app.get('/rollouts/:id', async (c) => {
    const { handle, within } = await answering(c.req.param('id'), false);
    return c.json(await within(10_000, () => rolloutStatus(handle)));
  });
  app.get('/rollouts/:id/report', async (c) => c.json(await rolloutRecord(getRollout(client, c.req.param('id')))));

  // --- messages

  /** One message route: parse the body, authorize (reading the plan when the rule needs it), send, answer. */
  const route = <S extends z.ZodType>(
    name: string,
    schema: S,
    action: (body: z.infer<S>) => ApiAction,
    send: (id: string, body: z.infer<S>, by: string, role: string | undefined) => Promise<MessageOutcome>,
  ) =>
    app.post(`/rollouts/:id/${name}`, async (c) => {
      const id = c.req.param('id');
      const caller = c.get('caller');
      const body = await parseBody(c, schema);
      const wanted = action(body);
      const plan = wanted.kind === 'attest' || wanted.kind === 'operate' ? await readPlan(client, id) : undefined;
      const permission = authorize(caller, wanted, plan);
      if (!permission.ok) throw new Problem(403, 'forbidden', permission.detail);
      const { within } = await answering(id, true);
      return c.json(await within(30_000, () => send(id, body, caller.identity, permission.role)));
    });

  const decision = z.strictObject({
    role: z.string().min(1),
    subject: z.string().min(1).optional(),
    reason: z.string().optional(),
    signature: z.string().min(1).optional(),
    id: z.string().min(1).optional(),
  });
  for (const [name, call] of [['approve', approve], ['reject', reject]] as const) {
    route(
      name,
      decision,
      (b) => ({ kind: 'decide', action: name, role: b.role }),
      (id, b, by) => call(getRollout(client, id), { ...b, by }),
    );
  }
  route(
    'consume-token',
    z.strictObject({ token: z.string().min(1), role: z.string().min(1), signature: z.string().min(1).optional(), id: z.string().min(1).optional() }),
    (b) => ({ kind: 'decide', action: 'consume-token', role: b.role }),
    (id, b, by) => consumeToken(getRollout(client, id), { ...b, by }),
  );
  route(
    'attest',
    z.strictObject({ check: z.string().min(1), note: z.string().optional(), id: z.string().min(1).optional() }),
    () => ({ kind: 'attest' }),
    (id, b, by) => attest(getRollout(client, id), { ...b, by }),
  );

  const operatorBody = { reason: z.string().min(1).optional(), role: z.string().min(1).optional(), id: z.string().min(1).optional() };
  const operatorRoute = (name: string, command: (body: { force?: boolean }) => OperatorCommand, schema: z.ZodType<{ reason?: string; role?: string; id?: string; force?: boolean }>) =>
    route(
      name,
      schema,
      (b) => ({ kind: 'operate', command: command(b), role: b.role }),
      (id, b, by, role) => operate(getRollout(client, id), { command: command(b), by, role, reason: b.reason, id: b.id }),
    );
  for (const command of ['pause', 'resume', 'abort', 'rollback', 'kill'] as const) operatorRoute(command, () => command, z.strictObject(operatorBody));
  operatorRoute('promote', (b) => (b.force ? 'force-promote' : 'promote'), z.strictObject({ ...operatorBody, force: z.boolean().optional() }));

  return app;
}

/** The JSON body checked against `schema`; 400 naming the first problem. An empty body counts as `{}`. */
async function parseBody<S extends z.ZodType>(c: Context<Env>, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let json: unknown = {};
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      throw new Problem(400, 'bad-request', 'the body is not JSON');
    }
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    if (issue.keys.includes('by')) throw new Problem(400, 'bad-request', 'by: the acting identity is taken from the token; remove "by" from the body');
    throw new Problem(400, 'bad-request', `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}; GET /openapi.json shows what this route takes`);
  }
  const path = issue.path.map(String).join('.');
  throw new Problem(400, 'bad-request', `${path || 'body'}: ${issue.message}`);
}

/**
 * The plan a rollout runs, from the input of the first event of its current run. 404 when there is no such rollout.
 * (A `plan` query on the workflow would save reading history.)
 */
export async function readPlan(client: Client, workflowId: string): Promise<Plan> {
  let response: Awaited<ReturnType<Client['workflowService']['getWorkflowExecutionHistory']>>;
  try {
    response = await client.workflowService.getWorkflowExecutionHistory({ namespace: client.options.namespace, execution: { workflowId }, maximumPageSize: 1 });
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === 5) throw new WorkflowNotFoundError(`no rollout ${workflowId}`, workflowId, undefined);
    throw err;
  }
  const payload = response.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Problem(404, 'not-found', `${workflowId} is not a rollout started from a plan`);
  const input = client.options.loadedDataConverter.payloadConverter.fromPayload<RolloutWorkflowInput>(payload);
  if (!input?.plan?.roles) throw new Problem(404, 'not-found', `${workflowId} is not a rollout started from a plan`);
  return input.plan;
}

/** Temporal outcomes a user can act on, as answers; undefined for anything else. */
function temporalProblem(err: unknown): { status: ContentfulStatusCode; error: string; detail: string } | undefined {
  if (err instanceof RolloutRefused) return { status: 409, error: 'refused', detail: err.message };
  if (err instanceof WorkflowNotFoundError) {
    return { status: 404, error: 'not-found', detail: `no running or finished rollout ${err.workflowId || ''}`.trim() + ' (it may have ended; GET /rollouts lists them)' };
  }
  if (err instanceof ServiceError || (isGrpcServiceError(err) && (err.code === 14 || err.code === 4))) {
    return { status: 503, error: 'unavailable', detail: `the Temporal server did not answer: ${(err as Error).message}; try again` };
  }
  return undefined;
}

/** A header value: printable ASCII, no quotes. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, "'");
}
