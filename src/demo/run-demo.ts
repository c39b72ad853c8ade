/**
 * The demo story behind `npm start`, runnable on any Temporal server: the demo target under load, a worker, and the
 * demo plan as a real rollout, with live progress, the approval a release manager gives, and a closing report that
 * proves the final state from the flag file and from the traffic the target actually routed.
 *
 * Without a fault the story is a completed rollout at 100%; with one (`--fault error-rate=0.05`) it is an automatic
 * rollback by the plan's hard stop. start.ts wraps this with the dev server and the command line.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import { approve, rolloutResult, rolloutStatus, rolloutWorkflowId, RolloutRefused, startRollout } from '../client';
import type { OpsLogEntry, Outcome } from '../domain/types';
import { pendingApprovalRoles } from '../domain/waits';
import { formatIssue, loadPlanFile } from '../plan/load';
import type { Plan } from '../plan/schema';
import type { FlagRolloutState } from '../providers/flags/flag-store';
import { FlagdFileStore } from '../providers/flags/flagd-file-store';
import { approvalSigned, renderProgress, shellWord } from '../view/progress';
import { createRolloutDeps, createWorker } from '../worker';
import type { RolloutStatusView } from '../workflows/messages';
import { bundleWorkflowsOffThread } from './bundle-off-thread';
import { describeFault, hasFault, type DemoFault } from './fault';
import { startLoad, type LoadStats } from './load-generator';
import { stopRollout, type StopRolloutOutcome } from './stop-rollout';
import { startDemoTarget, type CohortCounts, type DemoTarget } from './target-service';

/** The demo plan shipped with the project. */
export const DEMO_PLAN_FILE = resolve(__dirname, '..', '..', 'plans', 'demo.yaml');

/** The port npm start prefers for the demo target (the port written in plans/demo.yaml). */
export const DEMO_TARGET_PORT = 8787;

/** Who approves in the demo; the plan's only release-manager. */
export const DEMO_APPROVER = 'release-manager@demo';

/** The task queue the demo's rollouts run on. */
export const DEMO_TASK_QUEUE = 'canary-demo';

/**
 * The demo was interrupted (its `signal` aborted). When the rollout had started, it was stopped first: `stopped` says
 * how (rolled back by the plan owner, terminated, or it had already ended).
 */
export class DemoInterrupted extends Error {
  override name = 'DemoInterrupted';
  constructor(
    message: string,
    readonly workflowId?: string,
    readonly stopped?: StopRolloutOutcome,
  ) {
    super(message);
  }
}

export interface RunDemoOptions {
  client: Client;
  /** The worker's connection to the same server. */
  connection: NativeConnection;
  namespace?: string;
  /** Default {@link DEMO_TASK_QUEUE}. */
  taskQueue?: string;
  /** A prebuilt workflow bundle (tests); otherwise the worker bundles src/workflows. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Run a worker for the story's length (default true). False when the caller runs one on `taskQueue` (made with
   * {@link createDemoWorker} and the same `root`) that outlives the story, as npm start does for the UI's queries.
   */
  runWorker?: boolean;
  /** Default {@link DEMO_PLAN_FILE}. */
  planFile?: string;
  /** Where the plan's flag file path (and the configuration store) is resolved; default the working directory. */
  root?: string;
  /**
   * This run's own flag file, instead of the plan's path under `root`: the plan's flagd provider is pointed at it (as
   * the scrape url is pointed at the target), so two runs never write one file.
   */
  flagFile?: string;
  /** Port of the demo target; default 0 (any free port). */
  targetPort?: number;
  /** When `targetPort` is taken, use a free port instead of failing. */
  targetPortFallback?: boolean;
  /** Faults of the canary from the first request on; any fault makes the expected story a rollback. */
  fault?: DemoFault;
  /** Load on the target: requests per second (default 100) over this many user ids (default 5,000). */
  rps?: number;
  users?: number;
  /** Approve as {@link DEMO_APPROVER} once the rollout waits for the release manager (default true). */
  autoApprove?: boolean;
  /** How long "the release manager" looks before approving (default 3 s). */
  approveAfterMs?: number;
  /** Default `rollout:<flag>:<environment>-<UTC time>`, unique per run. */
  workflowId?: string;
  /** The Temporal Web UI's base URL, for the link to the history (none when omitted). */
  uiUrl?: string;
  /** The server's `host:port` as printed in the approve commands, when it is not the default `localhost:7233`. */
  address?: string;
  /**
   * Aborting stops the story: a started rollout is rolled back by the plan's owner (terminated when that is refused or
   * does not settle within `stopSettleMs`), then the target and load stop and runDemo throws {@link DemoInterrupted}.
   */
  signal?: AbortSignal;
  /** Default 10 s. */
  stopSettleMs?: number;
  /** Called once the rollout has started, with its workflow id. */
  onRolloutStarted?: (workflowId: string) => void;
  /** How often progress is read and printed (default 1 s). */
  progressEveryMs?: number;
  /** How long to wait, after the rollout ended, for the target's routing to show the final state (default 15 s). */
  settleMs?: number;
  /** Where the story is printed, one line at a time (default console.log). */
  out?: (line: string) => void;
}

/** How the demo ended, with the evidence of the final state. */
export interface DemoReport {
  workflowId: string;
  /** The story the options asked for: `completed` without a fault, `rolled_back` with one. */
  expected: Extract<Outcome, 'completed' | 'rolled_back'>;
  outcome: Outcome;
  finalPercent: number;
  /** The flag as the flag file holds it at the end. */
  flag: FlagRolloutState | undefined;
  /** Requests the target routed to each cohort in the last {@link SPLIT_WINDOW_MS} ms. */
  split: CohortCounts;
  load: LoadStats;
  /** True when the outcome, the flag file and the observed split all show the expected story. */
  storyHappened: boolean;
  historyUrl?: string;
}

/** The traffic window that proves the final state. */
export const SPLIT_WINDOW_MS = 3_000;

/**
 * Runs the demo to its end and returns the report; never leaves the target, the load or the worker running.
 *
 * Before the rollout starts, the plan's flag is reset to off (0%) in its flag file, so every run starts from the
 * stable version. Every scrape metric source of the plan is pointed at the target this run started (the url in the
 * plan file names the default port). While the rollout runs, each progress frame prints only the lines that changed,
 * followed by new ops-log entries; when it waits for the release manager, the approve commands are printed and,
 * unless `autoApprove` is false, the approval is given after `approveAfterMs`. After the end, it waits up to
 * `settleMs` for the target's routing to reach the final state (the flagd provider polls the file every few seconds).
 *
 * Throws (with what to do) when the plan does not load, its target provider is not a flagd file, or the target
 * cannot start; a rollout that ends differently than expected is a report with `storyHappened: false`. Throws
 * {@link DemoInterrupted} when `signal` aborts, after stopping the rollout it started.
 */
export async function runDemo(options: RunDemoOptions): Promise<DemoReport> {
  const out = options.out ?? ((line: string) => console.log(line));
  const root = resolve(options.root ?? '.');
  const planFile = options.planFile ?? DEMO_PLAN_FILE;
  const loaded = await loadPlanFile(planFile);
  if (!loaded.ok) throw new Error(`the demo plan ${planFile} is not valid:\n${loaded.issues.map(formatIssue).join('\n')}`);
  const plan = loaded.plan;
  const flagKey = plan.target.flags[0];
  const flagProvider = plan.providers.flags[plan.target.provider];
  if (!flagKey || flagProvider?.type !== 'flagd-file') {
    throw new Error(`the demo plan ${planFile} must target one flag in a flagd-file provider (target.provider names "${plan.target.provider}")`);
  }
  const flagFile = options.flagFile ? resolve(options.flagFile) : resolve(root, flagProvider.path);
  const expected = hasFault(options.fault) ? 'rolled_back' : 'completed';
  const namespace = options.namespace ?? 'default';
  const taskQueue = options.taskQueue ?? DEMO_TASK_QUEUE;
  const workflowId = options.workflowId ?? rolloutWorkflowId(flagKey, `${plan.target.environment}-${demoRunStamp(new Date())}`);
  const signal = options.signal;
  const interrupted = new Promise<void>((resolveInterrupted) => {
    if (signal?.aborted) resolveInterrupted();
    signal?.addEventListener('abort', () => resolveInterrupted(), { once: true });
  });
  const checkInterrupted = () => {
    if (signal?.aborted) throw new DemoInterrupted('interrupted before the rollout started');
  };
  const historyUrl = options.uiUrl ? `${options.uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}` : undefined;

  const cleanups: Array<() => Promise<void>> = [];
  try {
    checkInterrupted();
    const flags = new FlagdFileStore(flagFile);
    await flags.write(flagKey, { enabled: false, percent: 0 });
    out(`Flag ${flagKey} reset to off (0%) in ${flagFile}.`);

    const target = await startTarget(options, flagFile, flagKey);
    cleanups.push(() => target.close());
    out(`Demo target: ${target.url} (stable v1 and canary v2, routed by ${flagKey}); metrics at ${target.metricsUrl}`);
    out(`Canary fault: ${describeFault(options.fault)} — expected story: ${expected === 'completed' ? 'the rollout completes at 100%' : 'the hard stop rolls back'}.`);
    const runPlan = withFlagFile(withScrapeUrl(plan, target.metricsUrl), options.flagFile ? flagFile : undefined);

    const load = startLoad({ url: target.url, rps: options.rps ?? 100, users: options.users ?? 5_000 });
    cleanups.push(() => load.stop());
    out(`Load: ${options.rps ?? 100} requests/s from ${options.users ?? 5_000} users.`);

    if (options.runWorker !== false) {
      const worker = await createDemoWorker({ connection: options.connection, namespace, taskQueue, workflowBundle: options.workflowBundle, root });
      const running = worker.run();
      cleanups.push(async () => {
        worker.shutdown();
        await running;
      });
    }

    checkInterrupted();
    const handle = await startRollout(options.client, runPlan, { workflowId, taskQueue });
    options.onRolloutStarted?.(workflowId);
    out(`Started rollout ${workflowId} (plan ${plan.id}: ${plan.phases.map((p) => `${p.percent}%`).join(' → ')}).`);
    if (historyUrl) out(`Temporal UI: ${historyUrl}`);

    const result = rolloutResult(handle);
    let ended = false;
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    void settled.then(() => {
      ended = true;
    });

    const progress = new ProgressPrinter(out, workflowId, target, runPlan);
    const approved = new Set<string>();
    const everyMs = options.progressEveryMs ?? 1_000;
    while (!ended && !signal?.aborted) {
      const view = await rolloutStatus(handle).catch(() => undefined);
      if (view && !signal?.aborted) {
        progress.frame(view);
        for (const role of pendingApprovalRoles(view.waits ?? [])) {
          if (approved.has(role)) continue;
          approved.add(role);
          printApproveCommands(out, workflowId, role, namespace, options.autoApprove !== false, options.address, approvalSigned(runPlan, role, view.waits ?? []));
          if (options.autoApprove !== false) {
            void approveLater(handle, role, options.approveAfterMs ?? 3_000, out, signal);
          }
        }
      }
      await Promise.race([settled, sleep(everyMs), interrupted]);
    }

    if (signal?.aborted) {
      if (ended) throw new DemoInterrupted(`interrupted after rollout ${workflowId} ended`, workflowId, { how: 'already-ended', status: 'ended' });
      out(`Stopping rollout ${workflowId}: rolling it back as ${plan.owner ?? 'its owner'} (the plan's owner) …`);
      const stopped = await stopRollout(options.client, workflowId, { by: plan.owner, reason: 'npm start was interrupted (Ctrl-C)', settleMs: options.stopSettleMs, out });
      if (stopped.how === 'rolled-back') {
        progress.opsLog(stopped.result.opsLog);
        out(`Rollout rolled back: final traffic ${stopped.result.finalPercent}% (phase ${stopped.result.phase}); the rollback is in its ops log.`);
      } else if (stopped.how === 'terminated') {
        // A terminated rollout writes nothing more: put its flag back to off ourselves.
        await flags.write(flagKey, { enabled: false, percent: 0 }).catch(() => undefined);
        out(`Rollout terminated (${stopped.why}); flag ${flagKey} set to off in ${flagFile}.`);
      }
      throw new DemoInterrupted(`interrupted: rollout ${workflowId} ${stopped.how === 'already-ended' ? 'had already ended' : stopped.how}`, workflowId, stopped);
    }

    const final = await result;
    const lastView = await rolloutStatus(handle).catch(() => undefined);
    if (lastView) progress.frame(lastView);
    progress.opsLog(final.opsLog);
    out(`Rollout ${final.outcome === 'rolled_back' ? 'rolled back' : final.outcome}: final traffic ${final.finalPercent}% (phase ${final.phase}).`);

    const split = await waitForSplit(target, final.finalPercent, options.settleMs ?? 15_000, signal);
    const flag = await flags.read(flagKey);
    out(`Flag file ${flagFile}: ${flagKey} = ${await rawFlag(flagFile, flagKey)}`);
    out(`Observed split over the last ${SPLIT_WINDOW_MS / 1000}s: stable ${split.stable}, canary ${split.canary} requests (${share(split)}% canary).`);

    const storyHappened = final.outcome === expected && confirms(expected, flag, split);
    const loadStats = load.stats();
    out(
      storyHappened
        ? expected === 'completed'
          ? 'The demo worked: the rollout completed, the flag is at 100% and every request goes to v2.'
          : 'The demo worked: the hard stop rolled back, the flag is off and every request goes to v1.'
        : `The demo did not tell its story: expected ${expected}, got ${final.outcome}; flag ${JSON.stringify(flag)}, split ${JSON.stringify(split)}.`,
    );
    if (historyUrl) out(`History: ${historyUrl}`);
    return { workflowId, expected, outcome: final.outcome, finalPercent: final.finalPercent, flag, split, load: loadStats, storyHappened, historyUrl };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => out(`cleanup failed: ${(err as Error).message}`));
  }
}

/** Prints what changed between progress frames, and each ops-log entry once. */
class ProgressPrinter {
  private previous = new Set<string>();
  private readonly logged = new Set<string>();
  private readonly startedAt = Date.now();

  constructor(
    private readonly out: (line: string) => void,
    private readonly rolloutId: string,
    private readonly target: DemoTarget,
    /** The plan the rollout runs: the frame's approve command carries `--key` for a role that signs. */
    private readonly plan: Plan,
  ) {}

  frame(view: RolloutStatusView): void {
    const split = this.target.observedSplit(5_000);
    const lines = [...renderProgress(view, { now: Date.now(), rolloutId: this.rolloutId, plan: this.plan }), `  ${'traffic'.padEnd(12)}${share(split)}% canary in the last 5s`];
    for (const line of lines.filter((l) => !this.previous.has(l))) this.out(`${this.elapsed()} ${line}`);
    this.previous = new Set(lines);
    this.opsLog(view.opsLog);
  }

  opsLog(entries: readonly OpsLogEntry[]): void {
    for (const entry of entries) {
      const key = `${entry.at}|${entry.action}|${entry.reason}`;
      if (this.logged.has(key)) continue;
      this.logged.add(key);
      this.out(`${this.elapsed()}   ops log: ${entry.phase} ${entry.percent}% ${entry.action} — ${entry.reason}${entry.actor ? ` (${entry.actor})` : ''}`);
    }
  }

  private elapsed(): string {
    return `T+${String(Math.floor((Date.now() - this.startedAt) / 1000)).padStart(3)}s`;
  }
}

/**
 * The commands a release manager would run; the `canary approve` form is also in the progress frame. On a server
 * other than the default localhost:7233, both name its address. For a role that signs (a plan other than the demo's),
 * the approval is signed with `--key <role>.jwk`, and the Temporal CLI's input is made by `canary sign`.
 */
function printApproveCommands(out: (line: string) => void, id: string, role: string, namespace: string, auto: boolean, address?: string, signed = false): void {
  const key = signed ? ` --key ${shellWord(`${role}.jwk`)}` : '';
  const input = signed
    ? `"$(npm run -s canary -- sign ${shellWord(id)} --action approve --role ${shellWord(role)} --by ${shellWord(DEMO_APPROVER)}${key})"`
    : shellWord(JSON.stringify({ role, by: DEMO_APPROVER }));
  out(`The rollout waits for ${role} approval. Approve with:`);
  out(`    ${address ? `TEMPORAL_ADDRESS=${shellWord(address)} ` : ''}npm run canary -- approve ${shellWord(id)} --role ${shellWord(role)} --by ${shellWord(DEMO_APPROVER)}${key}`);
  out(`  or with the Temporal CLI:`);
  out(`    temporal workflow signal ${address ? `--address ${shellWord(address)} ` : ''}--namespace ${shellWord(namespace)} --workflow-id ${shellWord(id)} --name approve --input ${input}`);
  if (!auto) out(`Waiting for a person to approve (--no-auto-approve).`);
}

async function approveLater(handle: Parameters<typeof approve>[0], role: string, afterMs: number, out: (line: string) => void, signal?: AbortSignal): Promise<void> {
  await sleep(afterMs);
  if (signal?.aborted) return;
  try {
    await approve(handle, { role, by: DEMO_APPROVER, reason: 'demo: the gates are green' });
    out(`Approved as ${DEMO_APPROVER} (${role}).`);
  } catch (err) {
    // Refused (the rollout moved on, e.g. rolled back meanwhile) or the rollout has ended: say so, do not fail the demo.
    out(`The approval as ${DEMO_APPROVER} was not taken: ${err instanceof RolloutRefused ? err.message : (err as Error).message}`);
  }
}

async function startTarget(options: RunDemoOptions, flagFile: string, flagKey: string): Promise<DemoTarget> {
  const port = options.targetPort ?? 0;
  try {
    return await startDemoTarget({ flagFile, flagKey, port, fault: options.fault });
  } catch (err) {
    if (!options.targetPortFallback || port === 0 || !/port is taken/.test((err as Error).message)) throw err;
    return startDemoTarget({ flagFile, flagKey, port: 0, fault: options.fault });
  }
}

/**
 * A worker for the demo's rollouts, with flag files and the configuration store resolved under `root`. Without a
 * prebuilt `workflowBundle` the workflow code is bundled in a worker thread, so the process keeps answering signals.
 */
export async function createDemoWorker(options: {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  workflowBundle?: WorkerOptions['workflowBundle'];
  root?: string;
}): Promise<Worker> {
  const root = resolve(options.root ?? '.');
  return createWorker({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? DEMO_TASK_QUEUE,
    workflowBundle: options.workflowBundle ?? (await bundleWorkflowsOffThread()),
    rolloutDeps: createRolloutDeps({ flagFileRoot: root, configFile: join(root, '.canary', 'config.json') }),
  });
}

/** The plan with its flagd-file provider writing `flagFile` (unchanged when undefined). */
function withFlagFile(plan: Plan, flagFile: string | undefined): Plan {
  const provider = plan.providers.flags[plan.target.provider];
  if (!flagFile || provider?.type !== 'flagd-file') return plan;
  return { ...plan, providers: { ...plan.providers, flags: { ...plan.providers.flags, [plan.target.provider]: { ...provider, path: flagFile } } } };
}

/** The plan with every scrape source reading `metricsUrl`. */
function withScrapeUrl(plan: Plan, metricsUrl: string): Plan {
  const metrics = Object.fromEntries(
    Object.entries(plan.providers.metrics).map(([name, source]) => [name, source.type === 'scrape' ? { ...source, url: metricsUrl } : source]),
  );
  return { ...plan, providers: { ...plan.providers, metrics } };
}

/** Waits until the recent traffic shows the final percentage (all v2 at 100%, all v1 at 0%), or `timeoutMs` passes. */
async function waitForSplit(target: DemoTarget, finalPercent: number, timeoutMs: number, signal?: AbortSignal): Promise<CohortCounts> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const split = target.observedSplit(SPLIT_WINDOW_MS);
    const settled = finalPercent >= 100 ? split.stable === 0 && split.canary > 0 : finalPercent <= 0 ? split.canary === 0 && split.stable > 0 : true;
    if (settled || Date.now() >= deadline || signal?.aborted) return split;
    await sleep(500);
  }
}

function confirms(expected: DemoReport['expected'], flag: FlagRolloutState | undefined, split: CohortCounts): boolean {
  if (expected === 'completed') return flag?.enabled === true && flag.percent === 100 && split.stable === 0 && split.canary > 0;
  return (flag === undefined || !flag.enabled || flag.percent === 0) && split.canary === 0 && split.stable > 0;
}

/** The flag's entry in the file, as one line of JSON. */
async function rawFlag(flagFile: string, flagKey: string): Promise<string> {
  try {
    const file = JSON.parse(await readFile(flagFile, 'utf8')) as { flags?: Record<string, unknown> };
    return JSON.stringify(file.flags?.[flagKey] ?? null);
  } catch (err) {
    return `unreadable (${(err as Error).message})`;
  }
}

function share(split: CohortCounts): number {
  const total = split.stable + split.canary;
  return total === 0 ? 0 : Math.round((split.canary / total) * 100);
}

/** 2026-01-14T08:00:00.123Z → 20260114T080000Z: the part of the workflow id (and flag file) that names one run. */
export function demoRunStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
