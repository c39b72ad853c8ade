/**
 * The HTTP API's OpenAPI 3.0.3 document, as a typed object; the API serves it at `GET /openapi.json`. Every route of
 * {@link createHttpApi} is described here (a test compares the two and validates the document).
 */

import { WAIT_KINDS, type WaitKind } from '../domain/waits';

/** The part of an OpenAPI 3.0 Schema Object this document uses. */
export interface OpenApiSchema {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  format?: string;
  description?: string;
  enum?: string[];
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  items?: OpenApiSchema;
  additionalProperties?: boolean | OpenApiSchema;
  oneOf?: OpenApiSchema[];
  nullable?: boolean;
  example?: unknown;
}

interface MediaType {
  schema: OpenApiSchema;
}

interface Response {
  description: string;
  headers?: Record<string, { description: string; schema: OpenApiSchema }>;
  content?: Record<string, MediaType>;
}

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required?: boolean;
  description?: string;
  schema: OpenApiSchema;
}

/** One operation (a method on a path). */
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  parameters?: Array<Parameter | { $ref: string }>;
  requestBody?: { required?: boolean; description?: string; content: Record<string, MediaType> };
  responses: Record<string, Response | { $ref: string }>;
  security?: Array<Record<string, string[]>>;
}

/** The document's top level. */
export interface OpenApiDocument {
  openapi: '3.0.3';
  info: { title: string; version: string; description?: string };
  paths: Record<string, Partial<Record<'get' | 'post', OpenApiOperation>>>;
  components: {
    schemas: Record<string, OpenApiSchema>;
    responses: Record<string, Response>;
    parameters: Record<string, Parameter>;
    securitySchemes: Record<string, { type: 'http'; scheme: 'bearer'; bearerFormat?: string; description?: string }>;
  };
  security: Array<Record<string, string[]>>;
}

const ref = (name: string): OpenApiSchema => ({ $ref: `#/components/schemas/${name}` });

const str: OpenApiSchema = { type: 'string' };
const strings: OpenApiSchema = { type: 'array', items: str };
const millis: OpenApiSchema = { type: 'number', description: 'Milliseconds since the epoch.' };
const count: OpenApiSchema = { type: 'integer' };
const unmetCheck: OpenApiSchema = { type: 'object', required: ['check', 'detail'], properties: { check: str, detail: str } };

/** The fields of each kind of wait (`src/domain/waits.ts`): those it always has, and those it may have. */
const WAIT_FIELDS: Record<WaitKind, { required: Record<string, OpenApiSchema>; optional?: Record<string, OpenApiSchema>; description: string }> = {
  minimum: { description: "The phase's minimum duration (or its end of day).", required: { phase: str, duration: str, endsAt: millis, left: { type: 'number', description: 'Milliseconds left.' } }, optional: { endOfDay: str } },
  until: { description: "An `until` check of the phase that does not hold yet.", required: { phase: str, check: str, detail: str } },
  gate: { description: 'A gate of the phase that is not met.', required: { phase: str, name: str, detail: str } },
  approval: {
    description: 'Approvals by a role to enter or leave a phase; `rejected` when its last decision was a rejection.',
    required: { role: str, have: count, need: count, phase: str, at: { type: 'string', enum: ['enter', 'exit'] } },
    optional: { rejected: { type: 'object', required: ['by'], properties: { by: str, reason: str } } },
  },
  token: { description: 'A token to consume before a phase; `blockedBy`: its failing conditions (non-empty: a HOLD).', required: { id: str, role: str, phase: str, blockedBy: { type: 'array', items: unmetCheck } } },
  entry: { description: 'An entry check of the next phase that does not hold.', required: { phase: str, check: str, detail: str } },
  precondition: { description: 'A precondition that does not hold.', required: { check: str, detail: str } },
  task: { description: 'A required task of the phase that has not succeeded.', required: { phase: str, name: str } },
  window: { description: "The next phase's next allowed change window.", required: { phase: str }, optional: { opensAt: millis } },
  providers: { description: "The plan's providers must answer; `checked` false while the first check is out.", required: { checked: { type: 'boolean' }, offline: strings } },
  'flag-write': { description: 'A failed flag write, retried until it goes through.', required: { flags: strings, percent: { type: 'number' }, enabled: { type: 'boolean' }, failures: count, since: millis } },
  paused: { description: 'Paused: `canary resume` continues.', required: { by: str, reason: str, since: millis } },
  hold: {
    description: 'On hold until one of `decidedBy` (any operator when absent) decides; `default` happens at `deadline`.',
    required: { cause: str, reason: str, since: millis, default: { type: 'string', enum: ['rollback', 'revert-phase', 'resume', 'kill', 'stay'] } },
    optional: { decidedBy: strings, deadline: millis },
  },
};

function waitSchemas(): OpenApiSchema[] {
  return WAIT_KINDS.map((kind) => {
    const { required, optional, description } = WAIT_FIELDS[kind];
    return {
      type: 'object',
      description,
      required: ['kind', ...Object.keys(required)],
      properties: { kind: { type: 'string', enum: [kind] }, ...required, ...optional },
    };
  });
}
const problem = (description: string): Response => ({ description, content: { 'application/json': { schema: ref('Problem') } } });
const json = (schema: OpenApiSchema) => ({ 'application/json': { schema } });
const idParameter = { $ref: '#/components/parameters/RolloutId' };
const errors = (...codes: Array<'400' | '401' | '403' | '404' | '409' | '422' | '429' | '503' | '504'>) =>
  Object.fromEntries(codes.map((code) => [code, { $ref: `#/components/responses/${responseNames[code]}` }]));
const responseNames = {
  '400': 'BadRequest',
  '401': 'Unauthorized',
  '403': 'Forbidden',
  '404': 'NotFound',
  '409': 'Conflict',
  '422': 'InvalidPlan',
  '429': 'TooManyRequests',
  '503': 'Unavailable',
  '504': 'NoAnswer',
} as const;

/** A POST on a rollout that sends one message and answers its {@link MessageOutcome}. */
function message(operationId: string, summary: string, body: OpenApiSchema, description: string): OpenApiOperation {
  return {
    operationId,
    summary,
    description,
    tags: ['messages'],
    parameters: [idParameter],
    requestBody: { required: true, content: json(body) },
    responses: {
      '200': { description: 'Accepted: the ops-log lines it caused and the status after it.', content: json(ref('MessageOutcome')) },
      ...errors('400', '401', '403', '404', '409', '429', '503', '504'),
    },
  };
}

const operatorBody = ref('OperatorBody');
const operatorCommands: Array<[string, string, string]> = [
  ['pause', 'Pause the rollout', 'Stops advancing until resumed. Needs an operator role (controls.operators).'],
  ['resume', 'Resume a paused or held rollout', 'Needs an operator role (controls.operators).'],
  ['abort', 'Abort the rollout', 'Rolls back and ends as aborted; `reason` is required. Needs an operator role.'],
  ['rollback', 'Roll the rollout back', 'Compensates every change and ends as rolled back; `reason` is required. Needs an operator role.'],
  ['kill', 'Kill switch', 'Turns all flags off at once. Needs an operator role.'],
];

/** The document served at `GET /openapi.json`. */
export const openApiDocument: OpenApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'canary rollouts',
    version: '1',
    description:
      'Start, watch and steer canary rollouts. Every route except /healthz and /openapi.json needs a bearer JWT; the token subject ' +
      'is the acting identity and its role/group claims decide what it may do. Mutating routes are rate-limited per subject. ' +
      'Errors are JSON {error, detail}.',
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'Liveness',
        security: [],
        responses: { '200': { description: 'The API is up.', content: json({ type: 'object', properties: { ok: { type: 'boolean' } } }) } },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openApiDocument',
        summary: 'This document',
        security: [],
        responses: { '200': { description: 'The OpenAPI 3.0.3 document.', content: json({ type: 'object' }) } },
      },
    },
    '/rollouts': {
      get: {
        operationId: 'listRollouts',
        summary: 'List rollouts, newest first',
        tags: ['rollouts'],
        parameters: [
          { name: 'status', in: 'query', description: 'Only rollouts with this status (pending, running, holding, completed …); a status of a live rollout (running, holding, paused …) also needs its workflow to be running, so a terminated, failed or timed-out workflow is never listed as running.', schema: { type: 'string' } },
          { name: 'running', in: 'query', description: 'Only rollouts that are still running.', schema: { type: 'boolean' } },
          { name: 'limit', in: 'query', description: 'At most this many (1–1000, default 100).', schema: { type: 'integer' } },
        ],
        responses: {
          '200': { description: 'The rollouts.', content: json({ type: 'object', required: ['rollouts'], properties: { rollouts: { type: 'array', items: ref('RolloutSummary') } } }) },
          ...errors('400', '401', '503'),
        },
      },
      post: {
        operationId: 'startRollout',
        summary: 'Start a rollout from a plan',
        description:
          'The body is the plan, as YAML (application/yaml, text/yaml, text/plain) or JSON (application/json). Needs a starter role ' +
          '(default release-manager). An invalid plan answers 422 with its issues and starts nothing; a rollout of the same flags ' +
          'in the same environment that is still running answers 409.',
        tags: ['rollouts'],
        requestBody: {
          required: true,
          content: {
            'application/yaml': { schema: { type: 'string' } },
            'text/yaml': { schema: { type: 'string' } },
            'text/plain': { schema: { type: 'string' } },
            'application/json': { schema: { type: 'object', description: 'The plan (docs/plan-format.md).' } },
          },
        },
        responses: {
          '201': {
            description: 'Started.',
            headers: { Location: { description: 'The rollout.', schema: { type: 'string' } } },
            content: json(ref('Started')),
          },
          ...errors('400', '401', '403', '409', '422', '429', '503'),
        },
      },
    },
    '/rollouts/{id}': {
      get: {
        operationId: 'rolloutStatus',
        summary: 'Status: phase, percent, gates, what it waits for, the latest ops-log lines',
        tags: ['rollouts'],
        parameters: [idParameter],
        responses: { '200': { description: 'The status.', content: json(ref('RolloutStatus')) }, ...errors('401', '404', '503', '504') },
      },
    },
    '/rollouts/{id}/report': {
      get: {
        operationId: 'rolloutReport',
        summary: 'Result: every decision and the full ops log',
        description: 'The result of a finished rollout, or the result so far of a running one.',
        tags: ['rollouts'],
        parameters: [idParameter],
        responses: { '200': { description: 'The record.', content: json(ref('RolloutRecord')) }, ...errors('401', '404', '503') },
      },
    },
    '/rollouts/{id}/approve': {
      post: message(
        'approve',
        'Approve as a role',
        ref('DecisionBody'),
        'The approver is the token subject. Needs the role among the token roles; the rollout then checks membership, signatures ' +
          'and what waits, and refuses with 409 and its reason. A refused unsigned or forged approval is recorded in the ops log.',
      ),
    },
    '/rollouts/{id}/reject': {
      post: message('reject', 'Reject as a role', ref('DecisionBody'), 'As approve, with the opposite decision.'),
    },
    '/rollouts/{id}/consume-token': {
      post: message('consumeToken', 'Consume a token', ref('ConsumeTokenBody'), 'Needs the token role among the token roles; the consumer is the token subject.'),
    },
    '/rollouts/{id}/attest': {
      post: message('attest', 'Attest a check', ref('AttestBody'), 'Needs one of the plan roles; the check may require a particular one.'),
    },
    ...Object.fromEntries(
      operatorCommands.map(([command, summary, description]) => [
        `/rollouts/{id}/${command}`,
        { post: { ...message(command, summary, operatorBody, description), tags: ['operators'] } },
      ]),
    ),
    '/rollouts/{id}/promote': {
      post: {
        ...message(
          'promote',
          'Promote to the next phase, or with force to the last',
          ref('PromoteBody'),
          'Without force: waives the current phase minimum duration and gates; needs an operator role. With force (and a reason): skips ' +
            'to the last phase, bypassing gates and approvals; needs a role in controls.forcePromote.',
        ),
        tags: ['operators'],
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT from the configured identity provider (JWKS or public key).' },
    },
    parameters: {
      RolloutId: { name: 'id', in: 'path', required: true, description: 'The workflow id, e.g. rollout:checkout-v2:prod (URL-encoded).', schema: { type: 'string' } },
    },
    responses: {
      BadRequest: problem('The body or a parameter is not what the route takes; `detail` names the field.'),
      Unauthorized: {
        ...problem('No bearer token, or one that does not verify.'),
        headers: { 'WWW-Authenticate': { description: 'Bearer, with error="invalid_token" for a rejected token.', schema: { type: 'string' } } },
      },
      Forbidden: problem('The token carries no role that may do this; `detail` names the roles needed.'),
      NotFound: problem('No such rollout.'),
      Conflict: problem('The rollout refused the message (its reason is in `detail`), or a rollout of the same target is running.'),
      InvalidPlan: {
        description: 'The plan is not valid; nothing was started.',
        content: json(ref('InvalidPlanProblem')),
      },
      TooManyRequests: {
        ...problem('Too many changes by this caller; retry after the given seconds.'),
        headers: { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } },
      },
      Unavailable: problem('The Temporal server did not answer, or no worker polls the rollout\'s task queue (`no-worker`, naming the queue).'),
      NoAnswer: problem('A worker seemed to poll the rollout\'s task queue but did not answer in time (`no-answer`).'),
    },
    schemas: {
      Problem: {
        type: 'object',
        required: ['error', 'detail'],
        properties: {
          error: { type: 'string', description: 'A stable code: unauthorized, forbidden, refused, not-found, invalid-plan, conflict, rate-limited …' },
          detail: { type: 'string', description: 'What was wrong and what to do, in words.' },
        },
      },
      InvalidPlanProblem: {
        type: 'object',
        required: ['error', 'detail', 'issues'],
        properties: { error: { type: 'string' }, detail: { type: 'string' }, issues: { type: 'array', items: ref('PlanIssue') } },
      },
      PlanIssue: {
        type: 'object',
        required: ['file', 'path', 'message'],
        properties: { file: { type: 'string' }, line: { type: 'integer' }, path: { type: 'string' }, message: { type: 'string' } },
      },
      Started: {
        type: 'object',
        required: ['workflowId', 'runId', 'planId'],
        properties: { workflowId: { type: 'string' }, runId: { type: 'string' }, planId: { type: 'string' } },
      },
      RolloutSummary: {
        type: 'object',
        required: ['workflowId', 'runId', 'executionStatus', 'startTime'],
        properties: {
          workflowId: { type: 'string' },
          runId: { type: 'string' },
          executionStatus: { type: 'string', description: 'Temporal execution status: RUNNING, COMPLETED, FAILED …' },
          status: { type: 'string', description: 'The rollout status.' },
          planId: { type: 'string' },
          phase: { type: 'string' },
          percent: { type: 'number' },
          startTime: { type: 'string', format: 'date-time' },
          closeTime: { type: 'string', format: 'date-time' },
        },
      },
      OpsLogEntry: {
        type: 'object',
        required: ['at', 'phase', 'percent', 'action', 'reason'],
        properties: {
          at: { type: 'number', description: 'Milliseconds since the epoch.' },
          phase: { type: 'string' },
          percent: { type: 'number' },
          action: { type: 'string', description: 'advance, hold, approve, refuse, rollback …' },
          reason: { type: 'string' },
          actor: { type: 'string' },
          metrics: { type: 'object', additionalProperties: true },
        },
      },
      Wait: {
        description: 'One thing a rollout waits for; `kind` says which, and which fields it has.',
        oneOf: waitSchemas(),
      },
      RolloutStatus: {
        type: 'object',
        required: ['rolloutId', 'planId', 'status', 'phase', 'phaseIndex', 'percent', 'waits', 'waitingFor', 'gates', 'opsLog'],
        properties: {
          rolloutId: { type: 'string' },
          planId: { type: 'string' },
          status: { type: 'string' },
          outcome: { type: 'string' },
          phase: { type: 'string' },
          phaseIndex: { type: 'integer' },
          percent: { type: 'number' },
          phaseEnteredAt: { type: 'number' },
          minimumEndsAt: { type: 'number' },
          waits: { type: 'array', items: ref('Wait'), description: 'What the rollout waits for, as data: read these fields, not the words.' },
          waitingFor: { type: 'array', items: { type: 'string' }, description: 'The same waits in words, one sentence each (for people).' },
          hold: { type: 'object', additionalProperties: true },
          gates: {
            type: 'array',
            items: { type: 'object', properties: { name: { type: 'string' }, satisfied: { type: 'boolean' }, detail: { type: 'string' } } },
          },
          opsLog: { type: 'array', items: ref('OpsLogEntry'), description: 'The latest 50 lines.' },
        },
      },
      RolloutRecord: {
        type: 'object',
        required: ['running', 'result'],
        properties: {
          running: { type: 'boolean' },
          result: {
            type: 'object',
            required: ['outcome', 'finalPercent', 'phase', 'decisions', 'opsLog'],
            properties: {
              outcome: { type: 'string' },
              finalPercent: { type: 'number' },
              phase: { type: 'string' },
              decisions: {
                type: 'array',
                items: { type: 'object', properties: { at: { type: 'number' }, phase: { type: 'string' }, action: { type: 'string' }, reason: { type: 'string' } } },
              },
              opsLog: { type: 'array', items: ref('OpsLogEntry') },
              rollbackVerified: { type: 'boolean' },
              successCriteria: { type: 'object', additionalProperties: { type: 'string' } },
            },
          },
        },
      },
      MessageOutcome: {
        type: 'object',
        required: ['accepted', 'status', 'log'],
        properties: { accepted: { type: 'boolean' }, status: { type: 'string' }, log: { type: 'array', items: ref('OpsLogEntry') } },
      },
      DecisionBody: {
        type: 'object',
        required: ['role'],
        additionalProperties: false,
        properties: {
          role: { type: 'string', description: 'The role approving; must be among the token roles.' },
          subject: { type: 'string', description: '`phase:<name>`, `budget:<name>` or `hold`; default whatever waits for the role.' },
          reason: { type: 'string' },
          signature: { type: 'string', description: 'A compact JWS over the decision (signDecision), for roles that require signatures.' },
          id: { type: 'string', description: 'The message id; a repeated id is ignored. Must match the signature `jti`.' },
        },
      },
      ConsumeTokenBody: {
        type: 'object',
        required: ['token', 'role'],
        additionalProperties: false,
        properties: { token: { type: 'string' }, role: { type: 'string' }, signature: { type: 'string' }, id: { type: 'string' } },
      },
      AttestBody: {
        type: 'object',
        required: ['check'],
        additionalProperties: false,
        properties: { check: { type: 'string' }, note: { type: 'string' }, id: { type: 'string' } },
      },
      OperatorBody: {
        type: 'object',
        additionalProperties: false,
        properties: {
          reason: { type: 'string' },
          role: { type: 'string', description: 'The operator role to act in; default one the token carries and the plan allows.' },
          id: { type: 'string' },
        },
      },
      PromoteBody: {
        type: 'object',
        additionalProperties: false,
        properties: {
          force: { type: 'boolean', description: 'Skip to the last phase (needs controls.forcePromote and a reason).' },
          reason: { type: 'string' },
          role: { type: 'string' },
          id: { type: 'string' },
        },
      },
    },
  },
};
