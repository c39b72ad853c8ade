/**
 * The process-level fault harness: the rollout worker as a child process (`canary worker`, killed with SIGKILL and
 * started again at will), and the edges a worker process talks to, served by the test over HTTP so every side effect
 * is recorded in the order it arrived:
 *
 * - a flag service implementing the `webhook` flag store contract (src/providers/flags/webhook-flag-store.ts);
 * - a notification receiver for the `webhook` channel, recording each POST with its `Idempotency-Key`;
 * - a `/metrics` endpoint for a `scrape` metric source.
 *
 * The flag service and the receiver can hold their next answer for a while after the request arrived, so that a test
 * can kill the worker inside the activity that sent it. A seeded PRNG makes the kill moments reproducible.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { RolloutResult } from '../../src/domain/types';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { testSetup } from '../helpers/temporal-env';

const REPO_ROOT = resolve(__dirname, '..', '..');

/** mulberry32: a small seeded PRNG; `next()` is uniform in [0, 1). The same seed gives the same kill moments. */
export function seededRandom(seed: number): { next(): number; between(min: number, max: number): number; shuffle<T>(items: T[]): T[] } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    between: (min, max) => min + (max - min) * next(),
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j] as (typeof out)[number], out[i] as (typeof out)[number]];
      }
      return out;
    },
  };
}

/** A TCP port nobody listens on right now (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port');
  return address.port;
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Resolves as `work` does, or rejects after `ms` naming what it waited for. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what}: not done after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Loads plan YAML after replacing each placeholder (FLAG, FLAG_URL …) with its value; throws on a plan problem. */
export function planFrom(text: string, values: Record<string, string>): Plan {
  const filled = Object.entries(values).reduce((out, [name, value]) => out.replaceAll(name, value), text);
  const loaded = parsePlanText(filled, 'fault-plan.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

/**
 * The decisions a user compares between two runs: each ops-log action with its phase, percent and reason, the
 * rollout's own flag key replaced by FLAG (two runs of one plan use two flags: one rollout per flag).
 */
export function decisionsOf(result: RolloutResult, flag: string): string[] {
  return result.opsLog.map((e) => `${e.action} ${e.phase} ${e.percent}%: ${e.reason.replaceAll(flag, 'FLAG')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// The worker process

/** How the `canary worker` command is run: the packaged entry point, or the sources through tsx's require hook. */
export type WorkerLauncher = 'bin' | 'tsx';

export interface WorkerProcessOptions {
  /** host:port of the Temporal server (TEMPORAL_ADDRESS). */
  address: string;
  taskQueue: string;
  /** Flag-file root and configuration store directory. */
  root: string;
  /** Further environment for the worker (webhook URL variables). */
  env?: Record<string, string>;
  /** How long to wait for "worker running" (default 30 s). */
  readyTimeoutMs?: number;
}

/** A running `canary worker` process. */
export interface WorkerProcess {
  readonly pid: number;
  readonly launcher: WorkerLauncher;
  /** When it was spawned, and when it logged "worker running" (epoch ms). */
  readonly spawnedAt: number;
  readonly readyAt: number;
  /** Its stderr (JSON log lines), the last 200 lines. */
  readonly log: string[];
  /** Resolves with the exit code or signal once the process is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends SIGKILL (nothing runs after it: no shutdown, no flush) and waits for the process to be gone. */
  kill(): Promise<void>;
  /** Sends SIGTERM (graceful shutdown) and waits, with SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

let preferred: WorkerLauncher | undefined;

/**
 * Spawns `canary worker` with the jest run's prebuilt workflow bundle (fast start) and waits until it logs "worker
 * running". `node bin/canary.js` is tried first; when it cannot start a worker, `node --require tsx/cjs
 * src/cli/main.ts` (one process either way, so SIGKILL reaches the worker itself, never a wrapper).
 */
export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  if (preferred) return spawnWorker(options, preferred);
  try {
    const worker = await spawnWorker(options, 'bin');
    preferred = 'bin';
    return worker;
  } catch (err) {
    const worker = await spawnWorker(options, 'tsx').catch((second: unknown) => {
      throw new Error(`canary worker did not start with bin/canary.js (${(err as Error).message}) nor through tsx (${(second as Error).message})`);
    });
    preferred = 'tsx';
    return worker;
  }
}

async function spawnWorker(options: WorkerProcessOptions, launcher: WorkerLauncher): Promise<WorkerProcess> {
  const entry = launcher === 'bin' ? [join(REPO_ROOT, 'bin', 'canary.js')] : ['--require', 'tsx/cjs', join(REPO_ROOT, 'src', 'cli', 'main.ts')];
  const args = [
    ...entry,
    'worker',
    '--task-queue', options.taskQueue,
    '--workflow-bundle', testSetup().bundlePath,
    '--flag-root', options.root,
    '--config-file', join(options.root, 'config.json'),
    '--log-level', 'info',
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, TEMPORAL_ADDRESS: options.address, TEMPORAL_NAMESPACE: 'default' };
  // Only the address above decides where the worker connects.
  for (const name of ['TEMPORAL_PROFILE', 'TEMPORAL_CONFIG_FILE', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS']) delete env[name];
  const spawnedAt = Date.now();
  const child: ChildProcess = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  let readyAt = 0;
  const ready = new Promise<void>((done, fail) => {
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        log.push(line);
        if (log.length > 200) log.shift();
        if (!readyAt && line.includes('"msg":"worker running"')) {
          readyAt = Date.now();
          done();
        }
      }
    });
    void exited.then(({ code, signal }) => fail(new Error(`exited (${signal ?? code}) before it was ready: ${log.slice(-5).join(' | ')}`)));
    setTimeout(() => fail(new Error(`not ready after ${options.readyTimeoutMs ?? 30_000} ms: ${log.slice(-5).join(' | ')}`)), options.readyTimeoutMs ?? 30_000).unref();
  });
  const gone = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  try {
    await ready;
  } catch (err) {
    await gone('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid ?? -1,
    launcher,
    spawnedAt,
    get readyAt() {
      return readyAt;
    },
    log,
    exited,
    kill: () => gone('SIGKILL'),
    async stop(graceMs = 10_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone('SIGTERM');
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The edges: flag service, notification receiver, metrics endpoint

/** One request an edge service received, in order of arrival. */
export interface Received<T> {
  at: number;
  /** The moment the answer was sent (undefined while held, or when the client was gone first). */
  answeredAt?: number;
  value: T;
}

/** A flag write (PUT) as the flag service received it. */
export interface FlagWrite {
  key: string;
  enabled: boolean;
  percent: number;
}

/** A notification as the receiver got it. */
export interface Delivery {
  idempotencyKey: string | undefined;
  /** The parsed JSON body (docs/notifications.md). */
  body: Record<string, unknown>;
}

/** Holds the next matching request's answer; `arrived` resolves with it the moment it is received. */
interface Hold<T> {
  matches(value: T): boolean;
  ms: number;
  arrived(received: Received<T>): void;
}

export interface EdgeServices {
  /** Base URL of the flag service (the plan's `providers.flags.<name>.url`). */
  flagUrl: string;
  /** The notification receiver's URL (the value of the channel's `urlEnv` variable). */
  notifyUrl: string;
  /** The `/metrics` URL (the plan's `providers.metrics.<name>.url`). */
  metricsUrl: string;
  /** Every flag write (PUT), in order of arrival; the service stores it as it arrives. */
  flagWrites: Array<Received<FlagWrite>>;
  /** Every notification POST, in order of arrival. */
  deliveries: Array<Received<Delivery>>;
  /** Each flag's current state. */
  flags: Map<string, { enabled: boolean; percent: number }>;
  /**
   * The next flag write that `matches` is stored, then answered only after `ms`; resolves when it arrives. A worker
   * killed before the answer leaves the write done but its activity unfinished.
   */
  holdNextFlagWrite(ms: number, matches?: (write: FlagWrite) => boolean): Promise<Received<FlagWrite>>;
  /** The same for the next notification. */
  holdNextDelivery(ms: number, matches?: (delivery: Delivery) => boolean): Promise<Received<Delivery>>;
  /** Drops armed holds (their promises never resolve). */
  clearHolds(): void;
  /** The exposition text `/metrics` answers with. */
  setMetrics(text: string): void;
  close(): Promise<void>;
}

/** Starts the flag service, the notification receiver and the metrics endpoint on one local HTTP server. */
export async function startEdgeServices(): Promise<EdgeServices> {
  const flagWrites: Array<Received<FlagWrite>> = [];
  const deliveries: Array<Received<Delivery>> = [];
  const flags = new Map<string, { enabled: boolean; percent: number }>();
  let flagHold: Hold<FlagWrite> | undefined;
  let deliveryHold: Hold<Delivery> | undefined;
  let metrics = '';

  const answer = (res: ServerResponse, status: number, body: unknown, received?: Received<unknown>, delayMs = 0) => {
    const send = () => {
      if (res.destroyed || res.socket?.destroyed) return;
      if (received) received.answeredAt = Date.now();
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    res.on('error', () => undefined);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/metrics' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics);
      return;
    }
    const flag = /^\/flags\/([^/]+)$/.exec(url.pathname);
    if (flag?.[1] && req.method === 'GET') {
      const state = flags.get(decodeURIComponent(flag[1]));
      answer(res, state ? 200 : 404, state ?? { error: 'no such flag' });
      return;
    }
    if (flag?.[1] && req.method === 'PUT') {
      const { enabled, percent } = JSON.parse(text) as { enabled: boolean; percent: number };
      const received: Received<FlagWrite> = { at: Date.now(), value: { key: decodeURIComponent(flag[1]), enabled, percent } };
      flagWrites.push(received);
      flags.set(received.value.key, { enabled, percent });
      const hold = flagHold?.matches(received.value) ? flagHold : undefined;
      if (hold) flagHold = undefined;
      hold?.arrived(received);
      answer(res, 200, { ok: true }, received, hold?.ms ?? 0);
      return;
    }
    if (url.pathname === '/notify' && req.method === 'POST') {
      const key = req.headers['idempotency-key'];
      const received: Received<Delivery> = {
        at: Date.now(),
        value: { idempotencyKey: Array.isArray(key) ? key[0] : key, body: JSON.parse(text) as Record<string, unknown> },
      };
      deliveries.push(received);
      const hold = deliveryHold?.matches(received.value) ? deliveryHold : undefined;
      if (hold) deliveryHold = undefined;
      hold?.arrived(received);
      answer(res, 200, { ok: true }, received, hold?.ms ?? 0);
      return;
    }
    answer(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  };

  const server: Server = createHttpServer((req, res) => {
    handle(req, res).catch(() => answer(res, 500, { error: 'bad request' }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('edge services: no port');
  const base = `http://127.0.0.1:${address.port}`;
  const arm = <T>(ms: number, matches: (value: T) => boolean, set: (hold: Hold<T>) => void) =>
    new Promise<Received<T>>((arrived) => set({ ms, matches, arrived }));
  return {
    flagUrl: base,
    notifyUrl: `${base}/notify`,
    metricsUrl: `${base}/metrics`,
    flagWrites,
    deliveries,
    flags,
    holdNextFlagWrite: (ms, matches = () => true) => arm<FlagWrite>(ms, matches, (hold) => (flagHold = hold)),
    holdNextDelivery: (ms, matches = () => true) => arm<Delivery>(ms, matches, (hold) => (deliveryHold = hold)),
    clearHolds() {
      flagHold = undefined;
      deliveryHold = undefined;
    },
    setMetrics(text) {
      metrics = text;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading what happened

/** The values written to `key`, in order, with repeats of the same value (retries) collapsed. */
export function distinctWrites(writes: Array<Received<FlagWrite>>, key: string): number[] {
  const out: number[] = [];
  for (const { value } of writes) {
    if (value.key !== key) continue;
    const percent = value.enabled ? value.percent : 0;
    if (out[out.length - 1] !== percent) out.push(percent);
  }
  return out;
}

/**
 * How long the store held each value of `key` before the next one arrived (ms), in order: the traffic each phase
 * really had, whatever the rollout's clock says. The last value has no end and is left out.
 */
export function exposures(writes: Array<Received<FlagWrite>>, key: string): Array<{ percent: number; ms: number }> {
  const firsts: Array<{ percent: number; at: number }> = [];
  for (const { at, value } of writes) {
    const percent = value.enabled ? value.percent : 0;
    if (value.key === key && firsts[firsts.length - 1]?.percent !== percent) firsts.push({ percent, at });
  }
  return firsts.slice(0, -1).map((f, i) => ({ percent: f.percent, ms: (firsts[i + 1]?.at ?? f.at) - f.at }));
}

/** A notification's content without what legitimately differs between two sends of it (the send time). */
export function deliveryContent(delivery: Delivery): string {
  const { sentAt: _sentAt, ...content } = delivery.body;
  return JSON.stringify(content);
}

const EventType = temporal.api.enums.v1.EventType;

/** What a rollout's history says about faults. */
export interface HistoryFaults {
  /** Activity type → attempts that failed or timed out before the one that finished (retries add no events). */
  activityRetries: Record<string, number>;
  /** Why those earlier attempts ended, as the history records the last failure ("activity StartToClose timeout"). */
  retryCauses: string[];
  /** Workflow tasks that timed out, by timeout type (a dead worker's sticky queue: SCHEDULE_TO_START). */
  workflowTaskTimeouts: Record<string, number>;
  /** Epoch ms of each WorkflowTaskCompleted, in order. */
  workflowTasksCompletedAt: number[];
}

/** Reads the faults a rollout's history records (one run: these rollouts do not continue as new). */
export async function historyFaults(handle: WorkflowHandle): Promise<HistoryFaults> {
  const history = await handle.fetchHistory();
  const activityType = new Map<string, string>();
  const out: HistoryFaults = { activityRetries: {}, retryCauses: [], workflowTaskTimeouts: {}, workflowTasksCompletedAt: [] };
  for (const event of history.events ?? []) {
    const at = event.eventTime ? Number(event.eventTime.seconds) * 1000 + Math.floor((event.eventTime.nanos ?? 0) / 1e6) : 0;
    switch (event.eventType) {
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        activityType.set(String(event.eventId), event.activityTaskScheduledEventAttributes?.activityType?.name ?? '?');
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const started = event.activityTaskStartedEventAttributes;
        const retries = (started?.attempt ?? 1) - 1;
        if (retries > 0) {
          const type = activityType.get(String(started?.scheduledEventId)) ?? '?';
          out.activityRetries[type] = (out.activityRetries[type] ?? 0) + retries;
          out.retryCauses.push(`${type}: ${started?.lastFailure?.message ?? '?'}`);
        }
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: {
        const type = temporal.api.enums.v1.TimeoutType[event.workflowTaskTimedOutEventAttributes?.timeoutType ?? 0] ?? '?';
        out.workflowTaskTimeouts[type] = (out.workflowTaskTimeouts[type] ?? 0) + 1;
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        out.workflowTasksCompletedAt.push(at);
        break;
      default:
        break;
    }
  }
  return out;
}
