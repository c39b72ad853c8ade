/**
 * `canary workflow-input <plan>`: the rollout workflow's input for a plan — `{"plan": …}`, the plan as loaded and
 * checked, with every default filled in — as JSON for the plain Temporal CLI:
 *
 * ```sh
 * canary workflow-input plans/checkout.yaml > rollout-input.json
 * temporal workflow start --type rolloutWorkflow --task-queue canary-rollouts \
 *   --workflow-id rollout:checkout-v2:prod --input-file rollout-input.json
 * ```
 *
 * The workflow takes the loaded plan, not the YAML text, so this is the one step that needs `canary`. With `--out`
 * the JSON goes to a file instead of stdout. Exit 0; 2 for a plan with issues (each printed as file:line path: what
 * was expected) or a file that cannot be written.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatIssue, loadPlanFile } from '../../plan/load';
import type { RolloutWorkflowInput } from '../../workflows/rollout';
import { type CliContext, ExitCode } from '../context';

/** Adds `workflow-input` to the program. */
export function registerWorkflowInputCommand(program: Command, cli: CliContext): void {
  program
    .command('workflow-input')
    .description('print the rollout workflow input {"plan": …} for `temporal workflow start --input-file`')
    .argument('<plan>', 'plan file (YAML or JSON)')
    .option('--out <file>', 'write the JSON to this file instead of stdout')
    .option('--json', 'the input is JSON with or without this flag; with --out, print {out, planId} once written')
    .action(async (planFile: string, options: { out?: string; json?: boolean }) => {
      const loaded = await loadPlanFile(planFile);
      if (!loaded.ok) {
        loaded.issues.forEach((issue) => cli.err(formatIssue(issue)));
        cli.fail(ExitCode.Usage);
        return;
      }
      const input: RolloutWorkflowInput = { plan: loaded.plan };
      const json = JSON.stringify(input);
      if (!options.out) {
        cli.out(json);
        return;
      }
      try {
        await writeFile(options.out, `${json}\n`);
        if (options.json) cli.out(JSON.stringify({ out: options.out, planId: loaded.plan.id }));
      } catch (err) {
        cli.err(`canary workflow-input: cannot write ${options.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check that its directory exists and is writable`);
        cli.fail(ExitCode.Usage);
      }
    });
}
