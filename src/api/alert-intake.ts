/**
 * The Alertmanager intake: a webhook receiver (Alertmanager `webhook_configs`, payload version 4) that turns each
 * alert into an `alert` signal to the rollout it names. The intake only routes: whether an alert matches one of the
 * plan's triggers is the rollout's decision.
 *
 * - Pure part: {@link parseAlertmanagerPayload} checks the JSON, {@link alertsToEvents} maps each alert to a target
 *   workflow and an {@link AlertInput} whose id is `alertmanager:<fingerprint>:<status>:<startsAt>`, so a redelivered
 *   notification (Alertmanager's repeat_interval, or a retry) is ignored by the rollout.
 * - Server part: {@link createAlertIntakeHandler} (POST /alerts) with an injected delivery, {@link startAlertIntake},
 *   and {@link temporalAlertDelivery}, the production delivery that signals through a Temporal client.
 *
 * Answers: 400 for a body that is not a payload (naming the field), 401 without the bearer token when one is
 * configured; otherwise a JSON list of per-alert results, with status 200 when every alert was delivered or cannot be
 * delivered at all (no target rollout, rollout not found), and 503 when a delivery failed in a way a retry may fix —
 * Alertmanager then resends the whole group, which is harmless because message ids make delivery idempotent.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { rolloutWorkflowId } from '../client';
import { alertSignal, type AlertInput } from '../workflows/messages';

// ---------------------------------------------------------------------------------------------------------------
// The payload

const Labels = z.record(z.string(), z.string({ error: 'expected a string' }), { error: 'expected an object of string values' });
const AlertStatus = z.enum(['firing', 'resolved'], { error: 'expected "firing" or "resolved"' });

const AlertmanagerAlertSchema = z.object({
  status: AlertStatus,
  labels: Labels,
  annotations: Labels.optional(),
  startsAt: z.string({ error: 'expected an RFC 3339 time string' }).min(1, 'expected an RFC 3339 time string'),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().optional(),
});

/**
 * Only what routing needs is required (`alerts`, and per alert `status`, `labels`, `startsAt`); the other fields of
 * Alertmanager's version 4 payload are optional, and unknown fields (Grafana's `silenceURL`, `values` …) are ignored.
 */
const AlertmanagerPayloadSchema = z.object({
  version: z.string().optional(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().optional(),
  status: AlertStatus.optional(),
  receiver: z.string().optional(),
  groupLabels: Labels.optional(),
  commonLabels: Labels.optional(),
  commonAnnotations: Labels.optional(),
  externalURL: z.string().optional(),
  alerts: z.array(AlertmanagerAlertSchema, { error: 'expected an array of alerts' }),
}, { error: 'expected an Alertmanager webhook payload: a JSON object with "alerts"' });

export type AlertmanagerAlert = z.infer<typeof AlertmanagerAlertSchema>;
export type AlertmanagerPayload = z.infer<typeof AlertmanagerPayloadSchema>;

/**
 * Checks a parsed JSON body. On failure answers the first problem as `<field path>: <what was expected>`, e.g.
 * `alerts[1].status: expected "firing" or "resolved"`.
 */
export function parseAlertmanagerPayload(body: unknown): { ok: true; payload: AlertmanagerPayload } | { ok: false; error: string } {
  const result = AlertmanagerPayloadSchema.safeParse(body);
  if (result.success) return { ok: true, payload: result.data };
  const issue = result.error.issues[0]!;
  const path = issue.path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)), '');
  return { ok: false, error: `${path || 'body'}: ${issue.message}` };
}

// ---------------------------------------------------------------------------------------------------------------
// Routing (pure)

/** Which labels name the target rollout. */
export interface AlertRoutingOptions {
  /** A label holding the rollout's workflow id; default `canary_rollout`. */
  rolloutLabel?: string;
  /** With {@link environmentLabel}: the flag key (several flags joined with "+"); default `flag`. */
  flagLabel?: string;
  /** Default `environment`. */
  environmentLabel?: string;
}

/** One alert, routed: the signal to send, or why there is nowhere to send it. */
export type AlertRoute =
  | { kind: 'deliver'; alert: string; fingerprint: string; status: AlertInput['status']; workflowId: string; input: AlertInput }
  | { kind: 'unroutable'; alert: string; fingerprint: string; status: AlertInput['status']; reason: string };

/**
 * Maps each alert, in order, to its target rollout: the workflow id in label `canary_rollout` when present, otherwise
 * `rolloutWorkflowId(flag, environment)` from labels `flag` and `environment`. An alert with neither, or without an
 * `alertname` label, is `unroutable` with the reason. The signal input carries the alert name, its status and all its
 * labels; its id is `alertmanager:<fingerprint>:<status>:<startsAt>` (the fingerprint is computed from the labels when
 * the payload lacks it), so firing and resolved are distinct messages and a repeat of either is ignored.
 */
export function alertsToEvents(payload: AlertmanagerPayload, options: AlertRoutingOptions = {}): AlertRoute[] {
  const rolloutLabel = options.rolloutLabel ?? 'canary_rollout';
  const flagLabel = options.flagLabel ?? 'flag';
  const environmentLabel = options.environmentLabel ?? 'environment';
  return payload.alerts.map((a): AlertRoute => {
    const alert = a.labels.alertname ?? '';
    const fingerprint = a.fingerprint || labelsFingerprint(a.labels);
    const base = { alert, fingerprint, status: a.status };
    if (!alert) return { ...base, kind: 'unroutable', reason: 'the alert has no alertname label' };
    const flag = a.labels[flagLabel];
    const environment = a.labels[environmentLabel];
    const workflowId = a.labels[rolloutLabel] || (flag && environment ? rolloutWorkflowId(flag, environment) : undefined);
    if (!workflowId) {
      return {
        ...base,
        kind: 'unroutable',
        reason: `the alert names no rollout: add label ${rolloutLabel} (a workflow id) or labels ${flagLabel} and ${environmentLabel}`,
      };
    }
    const input: AlertInput = { id: `alertmanager:${fingerprint}:${a.status}:${a.startsAt}`, alert, status: a.status, labels: { ...a.labels } };
    return { ...base, kind: 'deliver', workflowId, input };
  });
}

/** A stable stand-in for Alertmanager's fingerprint: the first 16 hex digits of SHA-256 over the sorted labels. */
function labelsFingerprint(labels: Record<string, string>): string {
  const canonical = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------------------------
// Delivery

/** What delivering one alert came to; a failure a retry may fix is thrown instead. */
export type AlertDelivery = 'delivered' | 'not-found';

/** Delivers one alert signal to a rollout. Answers `not-found` when the workflow does not exist or has finished. */
export type DeliverAlert = (workflowId: string, input: AlertInput) => Promise<AlertDelivery>;

/**
 * The production delivery: signals `alert` to the current run of the workflow through `client`. A workflow that does
 * not exist or has closed is `not-found`; any other failure (server unreachable …) is thrown.
 */
export function temporalAlertDelivery(client: Client): DeliverAlert {
  return async (workflowId, input) => {
    try {
      await client.workflow.getHandle(workflowId).signal(alertSignal, input);
      return 'delivered';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'not-found';
      throw err;
    }
  };
}

/** One alert's result in the intake's answer. */
export interface AlertResult {
  alert: string;
  fingerprint: string;
  status: AlertInput['status'];
  workflowId?: string;
  /** delivered; not-found (no such running rollout); unroutable (no target); failed (a retry may succeed). */
  outcome: AlertDelivery | 'unroutable' | 'failed';
  detail?: string;
}

/** The intake's JSON answer to a valid payload. */
export interface AlertIntakeAnswer {
  received: number;
  delivered: number;
  results: AlertResult[];
}

/** Delivers every routed alert (all of them, even when some fail) and collects one result per alert, in order. */
export async function deliverAlerts(routes: AlertRoute[], deliver: DeliverAlert): Promise<AlertIntakeAnswer> {
  const results = await Promise.all(
    routes.map(async (route): Promise<AlertResult> => {
      const base = { alert: route.alert, fingerprint: route.fingerprint, status: route.status };
      if (route.kind === 'unroutable') return { ...base, outcome: 'unroutable', detail: route.reason };
      try {
        const outcome = await deliver(route.workflowId, route.input);
        return outcome === 'delivered'
          ? { ...base, workflowId: route.workflowId, outcome }
          : { ...base, workflowId: route.workflowId, outcome, detail: `no running rollout ${route.workflowId}` };
      } catch (err) {
        return { ...base, workflowId: route.workflowId, outcome: 'failed', detail: messageOf(err) };
      }
    }),
  );
  return { received: routes.length, delivered: results.filter((r) => r.outcome === 'delivered').length, results };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

export interface AlertIntakeOptions {
  /** An environment variable holding a bearer token every request must present (`Authorization: Bearer …`). */
  bearerTokenEnv?: string;
  /** Where the token variable is read, at each request; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  routing?: AlertRoutingOptions;
  /** Larger bodies are refused with 413; default 1 MiB. */
  maxBodyBytes?: number;
}

/** The path Alertmanager posts to. */
export const ALERTS_PATH = '/alerts';

const DEFAULT_MAX_BODY_BYTES = 1 << 20;

/**
 * A node:http request handler: `POST /alerts` takes an Alertmanager payload and delivers each alert with `deliver`;
 * `GET /healthz` answers 200. Other paths answer 404, other methods on /alerts 405. With `bearerTokenEnv`, a request
 * without the token answers 401, and an unset variable answers 500 for every request (the intake fails closed).
 */
export function createAlertIntakeHandler(deliver: DeliverAlert, options: AlertIntakeOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(req, res, deliver, options).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: `the alert intake failed: ${messageOf(err)}` });
      else res.end();
    });
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, deliver: DeliverAlert, options: AlertIntakeOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://intake').pathname;
  if (path === '/healthz' && req.method === 'GET') return send(res, 200, { ok: true });
  if (path !== ALERTS_PATH) return send(res, 404, { error: `no such endpoint ${path}: Alertmanager posts to ${ALERTS_PATH}` });
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return send(res, 405, { error: `${ALERTS_PATH} accepts POST only` });
  }

  const denied = checkBearer(req, options);
  if (denied) {
    if (denied.status === 401) res.setHeader('www-authenticate', 'Bearer');
    return send(res, denied.status, { error: denied.error });
  }

  const body = await readBody(req, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  if (body === undefined) {
    res.setHeader('connection', 'close');
    return send(res, 413, { error: `the body is larger than ${options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes` });
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return send(res, 400, { error: 'body: expected a JSON Alertmanager webhook payload' });
  }
  const parsed = parseAlertmanagerPayload(json);
  if (!parsed.ok) return send(res, 400, { error: parsed.error });

  const answer = await deliverAlerts(alertsToEvents(parsed.payload, options.routing), deliver);
  send(res, answer.results.some((r) => r.outcome === 'failed') ? 503 : 200, answer);
}

function checkBearer(req: IncomingMessage, options: AlertIntakeOptions): { status: number; error: string } | undefined {
  if (!options.bearerTokenEnv) return undefined;
  const expected = (options.env ?? process.env)[options.bearerTokenEnv]?.trim();
  if (!expected) return { status: 500, error: `the intake's bearer token variable ${options.bearerTokenEnv} is not set; set it where the intake runs` };
  const presented = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '';
  // Compare digests so the comparison takes the same time whatever the lengths.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected)) ? undefined : { status: 401, error: 'missing or wrong bearer token' };
}

/**
 * The body as text, or undefined as soon as it exceeds `max` bytes (reading stops there; the caller answers with
 * `connection: close`, so the rest is never read).
 */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.pause();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** A running intake. */
export interface AlertIntake {
  /** e.g. `http://127.0.0.1:9095`; Alertmanager posts to `${url}/alerts`. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts an HTTP server with {@link createAlertIntakeHandler}; `port` 0 picks a free port. */
export async function startAlertIntake(
  options: AlertIntakeOptions & { port: number; host?: string; deliver: DeliverAlert },
): Promise<AlertIntake> {
  const server = createServer(createAlertIntakeHandler(options.deliver, options));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
