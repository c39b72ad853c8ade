/**
 * `canary start <plan> [--id <id>] [--task-queue <queue>] [--dry-run] [--json]`: validates the plan and starts it as
 * a rollout on the Temporal server envconfig names. The rollout id defaults to `rollout:<flags>:<environment>`, so a
 * second rollout of the same flags in the same environment is refused while one runs.
 *
 * An invalid plan prints its issues (file:line path: message) on stderr, starts nothing and exits 2. `--dry-run`
 * validates and prints the plan's timeline (as `canary plan` does) and the id it would start, without connecting.
 * A rollout id already running exits 1 and says how to follow it or pick another id.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Command } from 'commander';
import { rolloutWorkflowId, startRollout } from '../../client';
import { formatIssue, loadPlanFile } from '../../plan/load';
import { planTimeline } from '../../plan/timeline';
import { DEFAULT_TASK_QUEUE } from '../../worker';
import { type CliContext, ExitCode } from '../context';
import { watchCommand } from '../rollout-options';
import { renderTimeline } from './plan';

interface StartOptions {
  id?: string;
  taskQueue: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Adds `start` to the program. */
export function registerStartCommand(program: Command, cli: CliContext): void {
  program
    .command('start')
    .description('validate a plan and start it as a rollout (--dry-run: validate and print the timeline only)')
    .argument('<plan>', 'plan file (YAML or JSON)')
    .option('--id <id>', 'rollout id (workflow id); default rollout:<flags>:<environment>')
    .option('--task-queue <queue>', 'task queue the canary workers poll', DEFAULT_TASK_QUEUE)
    .option('--dry-run', 'validate and print the timeline without starting anything')
    .option('--json', 'print {rolloutId, runId, planId, taskQueue} (with --dry-run: {rolloutId, planId, timeline})')
    .action(async (file: string, options: StartOptions) => {
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
        const handle = await startRollout(client, plan, { workflowId: rolloutId, taskQueue: options.taskQueue });
        if (options.json) {
          cli.out(JSON.stringify({ rolloutId, runId: handle.firstExecutionRunId, planId: plan.id, taskQueue: options.taskQueue }));
          return;
        }
        cli.out(`started ${rolloutId} (plan ${plan.id}, run ${handle.firstExecutionRunId}) on task queue ${options.taskQueue}`);
        cli.out(`follow it with: ${watchCommand(rolloutId)}`);
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        cli.err(`a rollout with id ${rolloutId} is already running: follow it with \`${watchCommand(rolloutId)}\`, or start this plan under another --id`);
        cli.fail(ExitCode.Failed);
      }
    });
}
