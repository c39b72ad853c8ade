/**
 * `canary report <id> [--format md|json|html] [--out <file>]`: the evidence bundle of a rollout — summary and final
 * state, every phase change with its metrics snapshot and go/no-go rationale, approvals with identities and signature
 * verification, refused messages, incidents, rollback and its verification, success criteria, and the complete ops
 * log (see src/report/evidence-report.ts). Works for running rollouts (from the result query, marked as still
 * running) and ended ones (from the workflow result, no worker needed).
 *
 * Exit 0 with the report on stdout or in --out; 1 for an unknown rollout or a workflow that ended without a result;
 * 2 for an unknown --format.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { rolloutResult, rolloutStatus } from '../../client';
import { buildEvidenceReport, renderEvidenceJson, type EvidenceReport } from '../../report/evidence-report';
import { renderEvidenceHtml } from '../../report/evidence-html';
import { renderEvidenceMarkdown } from '../../report/evidence-markdown';
import { resultQuery } from '../../workflows/messages';
import { type CliContext, ExitCode } from '../context';
import { withRollout } from '../rollout-options';

const RENDERERS: Record<string, (report: EvidenceReport) => string> = {
  md: renderEvidenceMarkdown,
  json: renderEvidenceJson,
  html: renderEvidenceHtml,
};

interface ReportOptions {
  format: 'md' | 'json' | 'html';
  out?: string;
}

/** Adds `report` to the program. */
export function registerReportCommand(program: Command, cli: CliContext): void {
  program
    .command('report')
    .description('the evidence bundle of a rollout: timeline, metric snapshots, approvals with identities, rationale, final state')
    .argument('<id>', 'rollout id (workflow id)')
    .addOption(new Option('--format <format>', 'md, json or html').choices(['md', 'json', 'html']).default('md'))
    .option('--out <file>', 'write the report to this file (directories are created) instead of printing it')
    .action(async (rolloutId: string, options: ReportOptions) => {
      await withRollout(cli, rolloutId, async (handle) => {
        const description = await handle.describe();
        const running = description.status.name === 'RUNNING';
        if (!running && description.status.name !== 'COMPLETED') {
          cli.err(`${rolloutId}: the workflow ended ${description.status.name.toLowerCase()} without a rollout result; its history is in Temporal (\`temporal workflow show --workflow-id ${rolloutId}\`)`);
          cli.fail(ExitCode.Failed);
          return;
        }
        const result = running ? await handle.query(resultQuery) : await rolloutResult(handle);
        const status = running ? await rolloutStatus(handle) : undefined;
        const report = buildEvidenceReport({ rolloutId, running, result, status, memo: description.memo, generatedAt: cli.now() });
        const text = RENDERERS[options.format]!(report);
        if (!options.out) {
          cli.io.stdout.write(text);
          return;
        }
        await mkdir(dirname(options.out), { recursive: true });
        await writeFile(options.out, text);
        cli.out(`wrote ${options.out} (${options.format}, ${report.timeline.length} ops-log entries${running ? ', rollout still running' : ''})`);
      });
    });
}
