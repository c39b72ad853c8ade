/**
 * `canary start <plan> [--id <id>] [--task-queue <queue>] [--dry-run] [--json]`: validates the plan and starts it as
 * a rollout on the Temporal server envconfig names. The rollout id defaults to `rollout:<flags>:<environment>`, so a
 * second rollout of the same flags in the same environment is refused while one runs.
 *
 * An invalid plan prints its issues (file:line path: message) on stderr, starts nothing and exits 2. `--dry-run`
 * validates and prints the plan's timeline (as `canary plan` does) and the id it would start, without connecting.
 * A rollout id already running exits 1 and says how to follow it or pick another id. With no worker polling the task
 * queue the rollout is still started (it waits, durably, for one) and stderr says so and how to start one.
 */
import { WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { NoWorkerPolling, requireWorker, rolloutWorkflowId, startRollout } from '../../client';
import { formatIssue, loadPlanFile } from '../../plan/load';
import { planTimeline } from '../../plan/timeline';
import { DEFAULT_TASK_QUEUE } from '../../worker';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';
import { noWorkerMessage, watchCommand } from '../rollout-options';
import { renderTimeline } from './plan';
import { resultQuery } from '../../workflows/messages';

interface StartOptions {
  id?: string;
  taskQueue: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Adds `start` to the program. */
export function registerStartCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('start')
    .description('validate a plan and start it as a rollout (--dry-run: validate and print the timeline only)')
    .argument('<plan>', 'plan file (YAML or JSON)')
    .option('--id <id>', 'rollout id (workflow id); default rollout:<flags>:<environment>')
    .option('--task-queue <queue>', 'task queue the canary workers poll', DEFAULT_TASK_QUEUE)
    .option('--dry-run', 'validate and print the timeline without starting anything')
    .option('--json', 'print {rolloutId, runId, planId, taskQueue, workerPolling} (with --dry-run: {rolloutId, planId, timeline})');
  addConnectionOptions(command, cli).action(async (file: string, options: StartOptions) => {
    const loaded = await loadPlanFile(file);
    if (!loaded.ok) {
      loaded.issues.forEach((issue) => cli.err(formatIssue(issue)));
      cli.err(`${file}: not started; fix the issues above (\`canary validate ${file}\` checks again)`);
      cli.fail(ExitCode.Usage);
      return;
    }
    const plan = loaded.plan;
    const rolloutId = options.id ?? rolloutWorkflowId(plan.target.flags.join('+'), plan.target.environment);

    if (options.dryRun) {
      const timeline = planTimeline(plan);
      if (options.json) {
        cli.out(JSON.stringify({ rolloutId, planId: plan.id, timeline }, null, 2));
        return;
      }
      renderTimeline(timeline).forEach((line) => cli.out(line));
      cli.out();
      cli.out(`dry run: ${file} is valid; \`canary start\` without --dry-run starts it as ${rolloutId} on task queue ${options.taskQueue}`);
      return;
    }

    const client = await cli.client();
    try {
      const handle = await cli.withServerDeadline(client, () => startRollout(client, plan, { workflowId: rolloutId, taskQueue: options.taskQueue }));
      // A rollout with no worker waits, durably, until one polls: say so rather than wait for answers that cannot come.
      const noWorker = await cli
        .withServerDeadline(client, () => requireWorker(client, options.taskQueue))
        .then(() => undefined)
        .catch((err: unknown) => {
          if (err instanceof NoWorkerPolling) return err;
          throw err;
        });
      // Another rollout may drive one of its flags (under any id): the rollout then refuses itself before writing.
      const refused = noWorker ? undefined : await refusedAtStart(handle, 5_000);
      if (refused) {
        cli.err(`${rolloutId} was refused: ${refused}`);
        cli.fail(ExitCode.Failed);
        return;
      }
      if (noWorker) cli.err(`${noWorkerMessage(cli, noWorker)}; the rollout waits until one does`);
      if (options.json) {
        cli.out(JSON.stringify({ rolloutId, runId: handle.firstExecutionRunId, planId: plan.id, taskQueue: options.taskQueue, workerPolling: !noWorker }));
        return;
      }
      cli.out(`started ${rolloutId} (plan ${plan.id}, run ${handle.firstExecutionRunId}) on task queue ${options.taskQueue}`);
      cli.out(`follow it with: ${watchCommand(rolloutId)}`);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      cli.err(
        `a rollout with id ${rolloutId} is already running: follow it with \`${watchCommand(rolloutId)}\`. One rollout drives a flag at a time, whatever its id: stop that one first (\`canary abort ${rolloutId} --reason …\`)`,
      );
      cli.fail(ExitCode.Failed);
    }
  });
}

/**
 * The reason the rollout refused itself at its start (its flags are driven by another rollout), if it did within
 * `waitMs`; undefined when it started, or when no worker answered in time (the rollout then decides later).
 */
async function refusedAtStart(handle: WorkflowHandle, waitMs: number): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    // Each query is bounded by what is left of the wait; one that runs into it counts as no answer yet.
    const result = await handle.client.connection.withDeadline(deadline, () => handle.query(resultQuery)).catch(() => undefined);
    const first = result?.opsLog[0];
    if (first) return first.action === 'refuse' && result.outcome === 'aborted' && first.phase === 'before-start' ? first.reason : undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}
