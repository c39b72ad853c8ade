/**
 * `canary replay <id> [--workflow-bundle <file>] [--json]`: fetches the history of every run of the rollout's continue-as-new
 * chain and replays each against the current workflow code (`Worker.runReplayHistories`), reporting per run whether
 * it replays deterministically. A change to the workflow code that would make a running rollout take another path
 * shows here before it is deployed.
 *
 * The workflow code is bundled from src/workflows unless --workflow-bundle names a prebuilt bundle (the file `bundleWorkflowCode`
 * writes). Exit 0 when every run replays; 1 when any run is nondeterministic or fails to replay, or the rollout is
 * unknown.
 */
import type { Command } from 'commander';
import { workflowCodeOptions } from '../../worker';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';
import { fetchHistoryChain } from '../history-chain';
import { withRollout } from '../rollout-options';

interface ReplayOptions {
  workflowBundle?: string;
  json?: boolean;
}

/** How long fetching every run's history may take. */
const REPLAY_FETCH_TIMEOUT_MS = 60_000;

/** How one run replayed. */
export interface ReplayVerdict {
  runId: string;
  events: number;
  deterministic: boolean;
  /** Why not: the nondeterminism or replay failure. */
  error?: string;
}

/** Adds `replay` to the program. */
export function registerReplayCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('replay')
    .description("replay every run of a rollout's history against the current workflow code and report determinism")
    .argument('<id>', 'rollout id (workflow id)')
    .option('--workflow-bundle <file>', 'a prebuilt workflow bundle to replay against (default: bundle src/workflows now)')
    .option('--json', 'print {rolloutId, deterministic, runs: [{runId, events, deterministic, error?}]}');
  addConnectionOptions(command, cli).action(async (rolloutId: string, options: ReplayOptions) => {
    await withRollout(cli, rolloutId, async (_handle, client) => {
      // Histories are read from the server alone; a long chain may take a while, but never forever.
      const runs = await cli.withServerDeadline(client, () => fetchHistoryChain(client, rolloutId), REPLAY_FETCH_TIMEOUT_MS);
      const code = workflowCodeOptions();
      const workerOptions: ReplayWorkerOptions = {
        dataConverter: { payloadConverterPath: code.payloadConverterPath },
        ...(options.workflowBundle ? { workflowBundle: { codePath: options.workflowBundle } } : { workflowsPath: code.workflowsPath }),
      };
      const verdicts: ReplayVerdict[] = [];
      const events = new Map(runs.map((r) => [r.runId, r.history.events?.length ?? 0]));
      const histories = runs.map((r) => ({ workflowId: rolloutId, history: r.history }));
      for await (const result of Worker.runReplayHistories(workerOptions, histories)) {
        verdicts.push({ runId: result.runId, events: events.get(result.runId) ?? 0, deterministic: !result.error, ...(result.error ? { error: result.error.message } : {}) });
      }
      const deterministic = verdicts.length > 0 && verdicts.every((v) => v.deterministic);
      if (!deterministic) cli.fail(ExitCode.Failed);
      if (options.json) {
        cli.out(JSON.stringify({ rolloutId, deterministic, runs: verdicts }, null, 2));
        return;
      }
      cli.out(`${rolloutId}: ${verdicts.length} run${verdicts.length === 1 ? '' : 's'} replayed against the current workflow code`);
      for (const v of verdicts) cli.out(`  ${v.runId}  ${String(v.events).padStart(6)} events  ${v.deterministic ? 'deterministic' : `NOT deterministic: ${v.error}`}`);
      cli.out(deterministic ? 'ok: every run replays deterministically' : 'FAILED: the current workflow code would take another path; do not deploy it while this rollout runs');
    });
  });
}
