/**
 * `canary validate <file...>`: checks plan files against the schema and the cross-field rules. Prints one OK line per
 * good file and one line per issue (`plans/x.yaml:14 phases[2].gates[0].window: expected …`); exit 2 if any file has
 * an issue. With --json, one JSON object per file and line: `{file, ok, issues: [{line, path, message}]}`.
 */
import type { Command } from 'commander';
import { formatIssue, loadPlanFile } from '../../plan/load';
import { type CliContext, ExitCode } from '../context';

interface ValidateOptions {
  json?: boolean;
}

/** Adds `validate` to the program. */
export function registerValidateCommand(program: Command, cli: CliContext): void {
  program
    .command('validate')
    .description('check plan files: schema, references, ordering, secrets; each issue with its line and path')
    .argument('<file...>', 'plan files (YAML or JSON)')
    .option('--json', 'print one JSON object per file: {file, ok, issues: [{line, path, message}]}')
    .action(async (files: string[], options: ValidateOptions) => {
      for (const file of files) {
        const result = await loadPlanFile(file);
        if (!result.ok) cli.fail(ExitCode.Usage);
        if (options.json) {
          const issues = result.ok ? [] : result.issues.map(({ line, path, message }) => ({ line: line ?? null, path, message }));
          cli.out(JSON.stringify({ file, ok: result.ok, issues }));
        } else if (result.ok) {
          const phases = result.plan.phases.length;
          cli.out(`${file}: ok — plan ${result.plan.id}, ${phases} phase${phases === 1 ? '' : 's'}`);
        } else {
          result.issues.forEach((issue) => cli.out(formatIssue(issue)));
        }
      }
    });
}
