/**
 * A worker killed at random points and inside side effects: the rollout worker runs as its own process (`canary
 * worker`) against a real dev server and is SIGKILLed at moments a seeded PRNG picks — at random, while the flag
 * service holds its answer to a flag write it already stored, and while the notification receiver holds its answer to
 * a delivery — then started again. The rollout must still reach 100% with the decisions of an uninterrupted run, its
 * flag never moving backwards, and every notification reaching a receiver that deduplicates by idempotency key.
 *
 * CANARY_FAULTS_SEED picks other kill moments; the figures (kills, recovery times, retries the history records) are
 * printed once.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { startRollout } from '../../src/client';
import type { Plan } from '../../src/plan/schema';
import { createDevServerEnv } from '../helpers/temporal-env';
import {
  decisionsOf,
  deliveryContent,
  distinctWrites,
  exposures,
  historyFaults,
  planFrom,
  seededRandom,
  sleep,
  startEdgeServices,
  startWorkerProcess,
  type EdgeServices,
  type Received,
  type WorkerProcess,
  within,
} from './process-harness';

const SEED = Number(process.env.CANARY_FAULTS_SEED ?? 20_261_122);
const TASK_QUEUE = 'faults-worker-kill';
const NOTIFY_URL_ENV = 'CANARY_FAULTS_NOTIFY_URL';
/** How long the flag service and the receiver hold an answer the worker is to be killed inside. */
const HOLD_MS = 1_000;

const PLAN = `
apiVersion: canary/v1
id: worker-kill
name: Worker kill
owner: owner@example.com
target: { flags: [FLAG], provider: flag-service, environment: faults }
providers:
  flags: { flag-service: { type: webhook, url: FLAG_URL } }
  metrics: { service: { type: scrape, url: METRICS_URL } }
metrics:
  error_rate: { source: service, query: canary_error_ratio, unit: ratio }
channels:
  hook: { type: webhook, urlEnv: ${NOTIFY_URL_ENV} }
analysis: { interval: 1s, inconclusiveLimit: 5m }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: '<', value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: 3s }
  - { name: canary-30, percent: 30, minDuration: 3s }
  - { name: canary-60, percent: 60, minDuration: 3s }
  - { name: full, percent: 100, minDuration: 2s }
notifications:
  - on: [started, phase-entered, phase-advanced, approval-needed, approval-received, token-consumed, hold, resumed, paused,
         trigger-fired, rollback, rollback-verified, killed, completed, stabilization-report, budget-exceeded, task-failed,
         flag-write-failed, escalation]
    channels: [hook]
`;

/** The notification event each ops-log action implies (for the actions this plan can produce). */
const IMPLIED_EVENT: Record<string, string> = {
  start: 'started',
  'enter-phase': 'phase-entered',
  advance: 'phase-advanced',
  complete: 'completed',
  hold: 'hold',
  resume: 'resumed',
  pause: 'paused',
  rollback: 'rollback',
  'flag-write-failed': 'flag-write-failed',
};

type KillKind = 'random' | 'flag-write' | 'notification';

interface Kill {
  kind: KillKind;
  at: number;
  /** For kills inside a side effect: the request was received and not yet answered when the worker died. */
  insideSideEffect?: boolean;
  detail: string;
  /** Spawn to "worker running" of the replacement. */
  restartMs: number;
  /** Kill → first workflow task completed afterwards (the rollout runs again). */
  resumedMs?: number;
  /** Kill → next flag write the service received, or the rollout's completion. */
  recoveryMs?: number;
  recoveredBy?: string;
}

function loadPlan(flag: string, edges: EdgeServices): Plan {
  // FLAG_URL before FLAG: the longer placeholder first.
  return planFrom(PLAN.replace('FLAG_URL', edges.flagUrl), { METRICS_URL: edges.metricsUrl, FLAG: flag });
}

async function closedAt(handle: WorkflowHandle): Promise<number> {
  const described = await handle.describe();
  return described.closeTime?.getTime() ?? Number.NaN;
}

describe('a worker killed at random points and inside side effects', () => {
  let env: TestWorkflowEnvironment;
  let edges: EdgeServices;
  let worker: WorkerProcess | undefined;
  let root: string;

  const startWorker = async () => {
    worker = await startWorkerProcess({ address: env.address, taskQueue: TASK_QUEUE, root, env: { [NOTIFY_URL_ENV]: edges.notifyUrl } });
    return worker;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'canary-worker-kill-'));
    [env, edges] = await Promise.all([createDevServerEnv(), startEdgeServices()]);
    edges.setMetrics('# TYPE canary_error_ratio gauge\ncanary_error_ratio 0\n');
  }, 60_000);

  afterAll(async () => {
    await worker?.kill();
    await edges?.close();
    await env?.teardown();
  });

  it('reaches 100% with the uninterrupted decisions, flag writes in order and every notification delivered', async () => {
    const rng = seededRandom(SEED);

    // The uninterrupted run of the same plan (on a flag of its own: one rollout per flag).
    await startWorker();
    const reference = await startRollout(env.client, loadPlan('kill-reference', edges), { workflowId: 'worker-kill-reference', taskQueue: TASK_QUEUE });
    const referenceStarted = Date.now();
    const referenceResult = await within(60_000, 'the uninterrupted rollout', reference.result());
    const referenceMs = Date.now() - referenceStarted;

    // The same plan, with the worker killed six times: twice at random, twice inside a flag write, twice inside a
    // notification delivery, in an order the seed picks.
    const flag = 'kill-faulted';
    const id = 'worker-kill-faulted';
    const handle = await startRollout(env.client, loadPlan(flag, edges), { workflowId: id, taskQueue: TASK_QUEUE });
    const startedAt = Date.now();
    let settled = false;
    const result = handle.result().finally(() => (settled = true));
    result.catch(() => undefined);

    const kinds = rng.shuffle<KillKind>(['random', 'random', 'flag-write', 'flag-write', 'notification', 'notification']);
    const kills: Kill[] = [];
    const notTried: string[] = [];
    const heldValues = new Set<number>();
    for (const kind of kinds) {
      if (settled) {
        notTried.push(`${kind}: the rollout had finished`);
        continue;
      }
      let held: Received<unknown> | undefined;
      let detail = '';
      const trigger: Promise<void> =
        kind === 'random'
          ? (async () => {
              const ms = Math.round(rng.between(300, 4_000));
              detail = `${ms} ms after the worker was up`;
              await sleep(ms);
            })()
          : kind === 'flag-write'
            ? (async () => {
                // A value not killed inside before: three killed attempts of one write would exhaust setFlags' retries.
                const write = await edges.holdNextFlagWrite(HOLD_MS, (w) => w.key === flag && !heldValues.has(w.percent));
                heldValues.add(write.value.percent);
                held = write;
                const ms = Math.round(rng.between(100, 800));
                detail = `${ms} ms into the held PUT ${write.value.percent}%`;
                await sleep(ms);
              })()
            : (async () => {
                const delivery = await edges.holdNextDelivery(HOLD_MS, (d) => d.body.rolloutId === id);
                held = delivery;
                const ms = Math.round(rng.between(100, 800));
                detail = `${ms} ms into the held ${String(delivery.value.body.event)} notification`;
                await sleep(ms);
              })();
      let giveUp: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        trigger.then(() => 'kill' as const),
        result.then(() => 'done' as const, () => 'done' as const),
        new Promise<'timeout'>((done) => (giveUp = setTimeout(() => done('timeout'), 40_000))),
      ]);
      clearTimeout(giveUp);
      edges.clearHolds();
      if (outcome !== 'kill') {
        notTried.push(`${kind}: ${outcome === 'done' ? 'the rollout finished first' : 'no trigger within 40 s'}`);
        continue;
      }
      const at = Date.now();
      const insideSideEffect = held ? (held as Received<unknown>).answeredAt === undefined : undefined;
      await worker?.kill();
      const replacement = await startWorker();
      kills.push({ kind, at, insideSideEffect, detail, restartMs: replacement.readyAt - replacement.spawnedAt });
    }

    const final = await within(120_000, 'the faulted rollout', result);
    const completedAt = await closedAt(handle);
    const faults = await historyFaults(handle);
    const referenceFaults = await historyFaults(reference);

    for (const kill of kills) {
      const nextWrite = edges.flagWrites.find((w) => w.value.key === flag && w.at > kill.at);
      const recoveredAt = nextWrite ? Math.min(nextWrite.at, completedAt) : completedAt;
      kill.recoveryMs = recoveredAt - kill.at;
      kill.recoveredBy = nextWrite && nextWrite.at <= completedAt ? `write ${nextWrite.value.percent}%` : 'completion';
      const resumed = faults.workflowTasksCompletedAt.find((t) => t > kill.at);
      kill.resumedMs = resumed === undefined ? undefined : resumed - kill.at;
    }

    // Notifications of the faulted rollout, by idempotency key.
    const byKey = new Map<string, Array<Received<{ body: Record<string, unknown>; idempotencyKey: string | undefined }>>>();
    const deliveries = edges.deliveries.filter((d) => d.value.body.rolloutId === id);
    for (const d of deliveries) {
      const key = d.value.idempotencyKey ?? '(none)';
      byKey.set(key, [...(byKey.get(key) ?? []), d]);
    }
    const duplicates = [...byKey.values()].reduce((n, list) => n + list.length - 1, 0);
    const conflicting = [...byKey.entries()].filter(([, list]) => new Set(list.map((d) => deliveryContent(d.value))).size > 1).map(([key]) => key);
    const receivedEvents = [...byKey.values()].map((list) => String(list[0]?.value.body.event)).sort();
    const impliedEvents = final.opsLog.flatMap((e) => (IMPLIED_EVENT[e.action] ? [IMPLIED_EVENT[e.action] as string] : [])).sort();

    const survived = kills.filter((k) => k.recoveryMs !== undefined && k.resumedMs !== undefined).length;
    const exposureText = (key: string) => exposures(edges.flagWrites, key).map((e) => `${e.percent}% ${seconds(e.ms)}`).join(', ');
    const seconds = (ms: number | undefined) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(1)}s`);
    console.log(
      [
        `worker-kill (seed ${SEED}, worker via ${worker?.launcher}): ${kills.length} kills tried / ${survived} survived; ` +
          `uninterrupted run ${seconds(referenceMs)}, faulted run ${seconds(completedAt - startedAt)}`,
        ...kills.map(
          (k, i) =>
            `  kill ${i + 1} ${k.kind.padEnd(12)} ${k.detail}${k.insideSideEffect === undefined ? '' : k.insideSideEffect ? ' (unanswered)' : ' (ALREADY ANSWERED)'}: ` +
            `worker back in ${seconds(k.restartMs)}, rollout resumed after ${seconds(k.resumedMs)}, recovered after ${seconds(k.recoveryMs)} (${k.recoveredBy})`,
        ),
        ...notTried.map((why) => `  not tried: ${why}`),
        `  flag writes received: ${edges.flagWrites.filter((w) => w.value.key === flag).map((w) => w.value.percent).join(', ')}`,
        `  time at each percent (flag service): faulted ${exposureText(flag)}; uninterrupted ${exposureText('kill-reference')}`,
        `  decisions (${final.opsLog.length}): ${final.opsLog.map((e) => `${e.action} ${e.percent}%`).join(' → ')}`,
        `  notifications: ${deliveries.length} deliveries, ${byKey.size} keys, ${duplicates} duplicate deliveries (same key), ${conflicting.length} keys with different content`,
        `  history: activity retries ${JSON.stringify(faults.activityRetries)}, workflow task timeouts ${JSON.stringify(faults.workflowTaskTimeouts)}` +
          ` (uninterrupted: ${JSON.stringify(referenceFaults.activityRetries)}, ${JSON.stringify(referenceFaults.workflowTaskTimeouts)})`,
        ...faults.retryCauses.map((cause) => `    retried after: ${cause}`),
      ].join('\n'),
    );

    // Every kind of kill was tried (a kill whose moment never came — the rollout had finished — is reported above), and
    // the rollout recovered from each.
    expect(new Set(kills.map((k) => k.kind))).toEqual(new Set(['random', 'flag-write', 'notification']));
    expect(kills.filter((k) => k.insideSideEffect === false)).toEqual([]);
    expect(survived).toBe(kills.length);
    // The rollout completes at 100%, with the decisions of the uninterrupted run.
    expect(final.outcome).toBe('completed');
    expect(final.finalPercent).toBe(100);
    expect(edges.flags.get(flag)).toEqual({ enabled: true, percent: 100 });
    expect(referenceResult.outcome).toBe('completed');
    expect(decisionsOf(final, flag)).toEqual(decisionsOf(referenceResult, 'kill-reference'));
    // The flag only ever moves forward: retries repeat a value, nothing goes back to an earlier one.
    expect(distinctWrites(edges.flagWrites, 'kill-reference')).toEqual([10, 30, 60, 100]);
    expect(distinctWrites(edges.flagWrites, flag)).toEqual([10, 30, 60, 100]);
    // Every notification the ops log implies arrives, each key with one content; a receiver deduplicating by key sees
    // each notification exactly once.
    expect(deliveries.every((d) => d.value.idempotencyKey !== undefined)).toBe(true);
    expect(conflicting).toEqual([]);
    expect(receivedEvents).toEqual(impliedEvents);
    expect(final.opsLog.filter((e) => e.action === 'notification-failed')).toEqual([]);
  }, 240_000);
});
