/**
 * The rollout workflow's activities: read metrics, write flags and configuration, run tasks and checks, notify.
 * Inputs carry plan fragments (provider settings, queries, environment variable NAMES) — never secrets, which
 * providers read from the worker's environment.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { checkKey } from '../domain/conditions';
import { tryParseDuration } from '../domain/duration';
import type { ApprovalRequest, MetricReading, Millis } from '../domain/types';
import type { ConditionDef, Plan, TaskDef } from '../plan/schema';
import type { ConfigStore, ConfigValue } from '../providers/config/file-config-store';
import type { FlagStore } from '../providers/flags/flag-store';
import type { MetricSource } from '../providers/metrics/metric-source';
import { approvalNeededNotification } from '../providers/notify/approval-message';
import type { Notification, Notifier } from '../providers/notify/notifier';
import { NotifyFailed } from '../providers/notify/notify-failed';
import { redactSecrets } from '../providers/secrets/redact';
import { approverKeysFromEnvironment, type ApproverKeys, type SignatureVerdict, type SignedDecision, verifyDecision } from '../providers/identity/approval-signature';

type FlagProviderConfig = Plan['providers']['flags'][string];
type MetricSourceConfig = Plan['providers']['metrics'][string];
type ChannelConfig = Plan['channels'][string];

/** The providers rollout activities act through, chosen by the worker (src/worker.ts). */
export interface RolloutActivityDeps {
  flagStore(name: string, config: FlagProviderConfig): FlagStore;
  /**
   * Which store a flag provider writes, as a stable string (type and resolved location): two plans that name the same
   * flag file or server differently still lock the same flags. Defaults to the provider's type and settings.
   */
  flagStoreIdentity?(name: string, config: FlagProviderConfig): string;
  metricSource(name: string, config: MetricSourceConfig): MetricSource | undefined;
  config: ConfigStore;
  notifier(channel: string, config: ChannelConfig): Notifier;
  /** Runs a shell command with a timeout; defaults to /bin/sh -c. */
  runCommand?(command: string, timeoutMs: number): Promise<{ exitCode: number; output: string }>;
  /** Public keys of approvers; defaults to the plan's key references resolved by {@link approverKeysFromEnvironment}. */
  approverKeys?: ApproverKeys;
  /**
   * Answers for command and http tasks and checks instead of running them (a scenario's world: backtests and tests
   * that replay a scenario through the workflow). Undefined from either function means: run it for real.
   */
  outcomes?: {
    task(name: string): { ok: boolean; detail?: string } | undefined;
    check(key: string): { ok: boolean; detail?: string } | undefined;
  };
}

export interface VerifySignatureInput {
  jws: string;
  decision: SignedDecision;
  /** The role's key references from the plan. */
  keyRefs: string[];
  /** Workflow time: expiry is judged against it, so replays and time-skipping agree. */
  at: Millis;
}

export interface ObserveInput {
  metrics: Array<{ name: string; sourceName: string; source: MetricSourceConfig; query: string }>;
  at: Millis;
  rolloutStartedAt: Millis;
}

export interface CheckProvidersInput {
  /** The metric sources the plan's metrics read. */
  metrics: Array<{ name: string; source: MetricSourceConfig }>;
  /** The flag provider and the flags the rollout writes. */
  flags: { name: string; provider: FlagProviderConfig; keys: string[] };
}

export interface SetFlagsInput {
  providerName: string;
  provider: FlagProviderConfig;
  flags: string[];
  percent: number;
  enabled: boolean;
}

export interface RunTaskInput {
  task: TaskDef;
  scope: string;
}

export interface RunCheckInput {
  condition: Extract<ConditionDef, { kind: 'http' | 'command' }>;
}

export interface NotifyInput {
  rolloutId: string;
  channels: Array<{ name: string; config: ChannelConfig }>;
  event: string;
  message: string;
  /** Title, severity, evidence fields and actions (such as the exact approve command), where the event has them. */
  details?: Pick<Notification, 'title' | 'severity' | 'fields' | 'actions' | 'links' | 'resolve'>;
}

export interface NotifyChannelInput {
  rolloutId: string;
  channel: { name: string; config: ChannelConfig };
  event: string;
  message: string;
  /** The same for every attempt at this notification on this channel. */
  idempotencyKey: string;
  details?: NotifyInput['details'];
  /** An approval request as data: the channel gets the rich approval message (evidence, the exact commands). */
  approval?: ApprovalRequest;
}

export interface FlagLocksInput {
  rolloutId: string;
  providerName: string;
  provider: FlagProviderConfig;
  flags: string[];
}

export type FlagLocksAnswer = { granted: true } | { granted: false; flag: string; holder: string };

/** The workflow id of the lock on `flag` in the store `store` (readable, and bounded in length). */
export function flagLockId(store: string, flag: string): string {
  const digest = createHash('sha256').update(`${store}\u0000${flag}`).digest('hex').slice(0, 16);
  return `canary-flag-lock:${flag.slice(0, 200)}:${digest}`;
}

/** How many notification keys a worker remembers as delivered (a retry on the same worker is not sent twice). */
const DELIVERED_KEYS = 10_000;

export function createRolloutActivities(deps: RolloutActivityDeps) {
  const runCommand = deps.runCommand ?? shell;
  const approverKeys = deps.approverKeys ?? approverKeysFromEnvironment();
  const storeIdentity = deps.flagStoreIdentity ?? ((_name: string, config: FlagProviderConfig) => JSON.stringify(config));
  const delivered = new Set<string>();
  return {
    /** Verifies an approval's or token consumption's signature; never throws (a problem is part of the verdict). */
    async verifySignature(input: VerifySignatureInput): Promise<SignatureVerdict> {
      return verifyDecision(input.jws, input.decision, approverKeys, input.keyRefs, input.at);
    },

    /** Reads every requested metric; a failing source yields an error reading, never an exception. */
    async observeMetrics(input: ObserveInput): Promise<Record<string, MetricReading>> {
      const readings: Record<string, MetricReading> = {};
      await Promise.all(
        input.metrics.map(async (m) => {
          const source = deps.metricSource(m.sourceName, m.source);
          if (!source) {
            readings[m.name] = { status: 'error', detail: `metric source ${m.sourceName} (${m.source.type}) is not available on this worker`, query: m.query };
            return;
          }
          try {
            readings[m.name] = await source.query(m.name, m.query, { at: input.at, rolloutStartedAt: input.rolloutStartedAt });
          } catch (err) {
            readings[m.name] = { status: 'error', detail: (err as Error).message, query: m.query };
          }
        }),
      );
      return readings;
    },

    /**
     * Asks every metric source whether it is online and reads each flag the rollout writes; returns what does not
     * answer, in words. Never throws: an offline provider is an answer, not a failure of the check.
     */
    async checkProviders(input: CheckProvidersInput): Promise<{ offline: string[] }> {
      const offline: string[] = [];
      await Promise.all(
        input.metrics.map(async ({ name, source: config }) => {
          const source = deps.metricSource(name, config);
          if (!source) {
            offline.push(`metrics source ${name} (${config.type}): not available on this worker`);
            return;
          }
          const online = await source.isOnline().catch((err: unknown) => new Error(String((err as Error).message ?? err)));
          if (online !== true) offline.push(`metrics source ${name} (${config.type}): ${online instanceof Error ? online.message : 'offline'}`);
        }),
      );
      const store = deps.flagStore(input.flags.name, input.flags.provider);
      for (const key of input.flags.keys) {
        try {
          await store.read(key);
        } catch (err) {
          offline.push(`flag provider ${input.flags.name} (${input.flags.provider.type}): reading ${key} failed: ${(err as Error).message}`);
          break;
        }
      }
      return { offline: offline.sort() };
    },

    /**
     * Reads flags for `value` conditions with `from: flag`: the share of traffic it serves, 0–100 (0 when it is off);
     * undefined when the flag does not exist or cannot be read (never a pass). What the value means is the
     * condition's to judge.
     */
    async readFlags(input: { providerName: string; provider: FlagProviderConfig; keys: string[] }): Promise<Record<string, number | undefined>> {
      const store = deps.flagStore(input.providerName, input.provider);
      const values: Record<string, number | undefined> = {};
      for (const key of input.keys) {
        const state = await store.read(key).catch(() => undefined);
        values[key] = state === undefined ? undefined : state.enabled ? state.percent : 0;
      }
      return values;
    },

    /** Sets every flag to the percentage (or off), verified by read-back in the store. Heartbeats while it works. */
    async setFlags(input: SetFlagsInput): Promise<void> {
      const store = deps.flagStore(input.providerName, input.provider);
      await whileHeartbeating(async () => {
        for (const flag of input.flags) {
          try {
            await store.write(flag, { enabled: input.enabled, percent: input.percent });
          } catch (err) {
            throw ApplicationFailure.retryable(`flag ${flag}: ${(err as Error).message}`, 'FlagWriteFailed');
          }
        }
      });
    },

    async setConfig(input: { key: string; value: ConfigValue }): Promise<void> {
      await deps.config.write(input.key, input.value);
    },

    /** Runs a task: a command must exit 0, an HTTP call must answer 2xx. */
    async runTask(input: RunTaskInput): Promise<{ ok: boolean; detail?: string }> {
      const answered = deps.outcomes?.task(input.task.name);
      if (answered) return answered;
      const run = input.task.run;
      switch (run.type) {
        case 'command': {
          const result = await runCommand(run.command, tryParseDuration(run.timeout) ?? 600_000);
          // The output goes into history and reports: secrets from the worker's environment are redacted first.
          const output = redactSecrets(result.output).slice(-200);
          return { ok: result.exitCode === 0, detail: `exit ${result.exitCode}${output ? `: ${output}` : ''}` };
        }
        case 'http': {
          const response = await fetch(run.url, { method: run.method, signal: AbortSignal.timeout(30_000) }).catch((err: Error) => err);
          if (response instanceof Error) return { ok: false, detail: redactSecrets(response.message) };
          return { ok: response.ok, detail: `HTTP ${response.status}` };
        }
        default:
          return { ok: true, detail: `${run.type} tasks need no worker action` };
      }
    },

    /** Runs an http or command check. */
    async runCheck(input: RunCheckInput): Promise<{ ok: boolean; detail?: string }> {
      const answered = deps.outcomes?.check(checkKey(input.condition));
      if (answered) return answered;
      const c = input.condition;
      if (c.kind === 'command') {
        const result = await runCommand(c.run, tryParseDuration(c.timeout) ?? 60_000);
        return { ok: result.exitCode === c.expectExit, detail: `exit ${result.exitCode} (expected ${c.expectExit})` };
      }
      const response = await fetch(c.url, { method: c.method, signal: AbortSignal.timeout(tryParseDuration(c.timeout) ?? 60_000) }).catch((err: Error) => err);
      if (response instanceof Error) return { ok: false, detail: redactSecrets(response.message) };
      return { ok: response.status === c.expectStatus, detail: `HTTP ${response.status} (expected ${c.expectStatus})` };
    },

    /**
     * Sends one notification to one channel, at least once: the idempotency key goes with it (receivers that
     * deduplicate see it once) and a key this worker already delivered is not sent again. A failure a retry could fix
     * is retried by Temporal a few times; then, like a final failure, the workflow reports it in the ops log.
     */
    async notifyChannel(input: NotifyChannelInput): Promise<void> {
      if (delivered.has(input.idempotencyKey)) return;
      try {
        await whileHeartbeating(() =>
          deps
            .notifier(input.channel.name, input.channel.config)
            .send(
              { ...input.details, ...approvalDetails(input), channel: input.channel.name, event: input.event, message: input.message, rolloutId: input.rolloutId, idempotencyKey: input.idempotencyKey },
              { signal: Context.current().cancellationSignal },
            ),
        );
      } catch (err) {
        const failure = err instanceof NotifyFailed ? err : new NotifyFailed(`${input.channel.name}: ${(err as Error).message}`, input.channel.name, true);
        if (failure.retryable) throw ApplicationFailure.retryable(failure.message, 'NotifyFailed');
        throw ApplicationFailure.nonRetryable(failure.message, 'NotifyFailed');
      }
      delivered.add(input.idempotencyKey);
      if (delivered.size > DELIVERED_KEYS) delivered.delete(delivered.values().next().value as string);
    },

    /**
     * Takes the lock on every flag the rollout writes (see workflows/flag-lock.ts), or none: the answer names the
     * first flag another running rollout holds, and that rollout. A lock whose holder no longer runs is taken over.
     */
    async acquireFlagLocks(input: FlagLocksInput): Promise<FlagLocksAnswer> {
      const { client, info } = Context.current();
      const store = storeIdentity(input.providerName, input.provider);
      const taken: string[] = [];
      for (const flag of input.flags) {
        const lockId = flagLockId(store, flag);
        for (let attempt = 0; ; attempt++) {
          try {
            await client.workflow.start('flagLockWorkflow', { workflowId: lockId, taskQueue: info.taskQueue, args: [{ holder: input.rolloutId, flag, store }], memo: { holder: input.rolloutId } });
            taken.push(lockId);
            break;
          } catch (err) {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          }
          const lock = await client.workflow.getHandle(lockId).describe().catch((err: unknown) => (err instanceof WorkflowNotFoundError ? undefined : Promise.reject(err)));
          if (!lock || lock.status.name !== 'RUNNING') continue;
          const holder = String(lock.memo?.holder ?? 'unknown');
          if (holder === input.rolloutId) break;
          const holderRuns = await client.workflow
            .getHandle(holder)
            .describe()
            .then((d) => d.status.name === 'RUNNING')
            .catch((err: unknown) => (err instanceof WorkflowNotFoundError ? false : Promise.reject(err)));
          if (holderRuns || attempt >= 3) {
            await Promise.all(taken.map((id) => client.workflow.getHandle(id).signal('release', { holder: input.rolloutId }).catch(() => undefined)));
            return { granted: false, flag, holder };
          }
          // The holder stopped without releasing the lock (terminated, failed): take it over.
          await client.workflow.getHandle(lockId).terminate(`holder ${holder} no longer runs; ${input.rolloutId} takes the lock`).catch(() => undefined);
        }
      }
      return { granted: true };
    },

    /** Releases the rollout's flag locks (a lock it does not hold is left alone). */
    async releaseFlagLocks(input: FlagLocksInput): Promise<void> {
      const { client } = Context.current();
      const store = storeIdentity(input.providerName, input.provider);
      await Promise.all(
        input.flags.map((flag) =>
          client.workflow
            .getHandle(flagLockId(store, flag))
            .signal('release', { holder: input.rolloutId })
            .catch((err: unknown) => (err instanceof WorkflowNotFoundError ? undefined : Promise.reject(err))),
        ),
      );
    },

    /**
     * Sends one message to every channel. Each channel is tried even when another fails; a failure that a retry could
     * fix (timeout, 5xx, 429) is retried by Temporal, others (a missing variable, a rejected payload) are final.
     */
    async notify(input: NotifyInput): Promise<void> {
      const failures: NotifyFailed[] = [];
      for (const channel of input.channels) {
        try {
          await deps.notifier(channel.name, channel.config).send({ ...input.details, channel: channel.name, event: input.event, message: input.message, rolloutId: input.rolloutId });
        } catch (err) {
          failures.push(err instanceof NotifyFailed ? err : new NotifyFailed(`${channel.name}: ${(err as Error).message}`, channel.name, true));
        }
      }
      if (failures.length === 0) return;
      const message = failures.map((f) => f.message).join('; ');
      if (failures.some((f) => f.retryable)) throw ApplicationFailure.retryable(message, 'NotifyFailed');
      throw ApplicationFailure.nonRetryable(message, 'NotifyFailed');
    },
  };
}

export type RolloutActivities = ReturnType<typeof createRolloutActivities>;

/** How often a side-effect activity tells the server it is alive (the workflow's heartbeat timeout is a few of these). */
const HEARTBEAT_EVERY_MS = 1_000;

/**
 * Runs `work` while heartbeating every second, so a worker that dies in the middle of a flag write or a notification
 * is noticed after the heartbeat timeout (seconds) instead of the start-to-close timeout. Outside an activity (a test
 * calling the function directly) it just runs `work`.
 */
async function whileHeartbeating<T>(work: () => Promise<T>): Promise<T> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return work();
  }
  const beat = setInterval(() => context?.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

function shell(command: string, timeoutMs: number): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? Number((error as { code?: unknown }).code) : 1) : 0;
      resolve({ exitCode: code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/**
 * The rich parts of an approval-needed notification (title, severity, each gate against its threshold, the exact
 * `canary approve` and `temporal workflow signal` commands), built from the machine's request; the message stays the
 * machine's own words.
 */
function approvalDetails(input: NotifyChannelInput): NotifyInput['details'] {
  const request = input.approval;
  if (!request) return undefined;
  const { title, severity, fields, actions } = approvalNeededNotification({
    channel: input.channel.name,
    rolloutId: input.rolloutId,
    planName: request.planName,
    phase: request.phase,
    role: request.role,
    quorum: { have: request.have, need: request.need },
    evidence: request.evidence.map((e) => ({ ...e, value: e.value })),
    subject: request.subject,
    signatureRequired: request.signatureRequired,
    ...(request.reason ? { reason: request.reason } : {}),
  });
  return { title, severity, fields, actions };
}
