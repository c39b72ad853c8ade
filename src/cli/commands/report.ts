/**
 * `canary report <id> [--format md|json|html] [--out <file> | --bundle]`: the evidence bundle of a rollout — summary and final
 * state, every phase change with its metrics snapshot and go/no-go rationale, approvals with identities and signature
 * verification, refused messages, incidents, rollback and its verification, success criteria, and the complete ops
 * log (see src/report/evidence-report.ts). Works for running rollouts (from the result query, marked as still
 * running) and ended ones (from the workflow result, no worker needed).
 *
 * Exit 0 with the report on stdout, in --out or in the plan's evidence bundle (--bundle: 2 when the plan names none); 1 for an unknown rollout or a workflow that ended without a result;
 * 2 for an unknown --format.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { EvidencePathRefused, writeEvidenceBundle } from '../../report/evidence-bundle';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { describeRollout, requireWorker, rolloutResult, rolloutStatus, withAnswerDeadline } from '../../client';
import { buildEvidenceReport, renderEvidenceJson, type EvidenceInput, type EvidenceReport } from '../../report/evidence-report';
import { renderEvidenceHtml } from '../../report/evidence-html';
import { renderEvidenceMarkdown } from '../../report/evidence-markdown';
import { readHistoryFacts } from '../../report/report-inputs';
import { resultQuery } from '../../workflows/messages';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';
import { finishedText, withRollout } from '../rollout-options';

const RENDERERS: Record<string, (report: EvidenceReport) => string> = {
  md: renderEvidenceMarkdown,
  json: renderEvidenceJson,
  html: renderEvidenceHtml,
};

interface ReportOptions {
  format: 'md' | 'json' | 'html';
  out?: string;
  bundle?: boolean | string;
  json?: boolean;
  uiUrl?: string;
}

/** The Temporal UI `npm start` serves (its dev server's default), unless TEMPORAL_UI_URL or --ui-url says otherwise. */
const DEFAULT_UI_URL = 'http://localhost:8233';

/** Adds `report` to the program. */
export function registerReportCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('report')
    .description('the evidence bundle of a rollout: timeline, metric snapshots, approvals with identities, rationale, final state')
    .argument('<id>', 'rollout id (workflow id)')
    .addOption(new Option('--format <format>', 'md, json or html').choices(['md', 'json', 'html']).default('md'))
    .option('--out <file>', 'write the report to this file (directories are created) instead of printing it')
    .option('--bundle [root]', "write the evidence where the plan's `evidence` says, under root (default: the current directory): the report as .md, .json and .html in evidence.bundle, the ops log as JSON lines in evidence.opsLog")
    .option('--json', 'print the report as JSON (as --format json); with --out, print {rolloutId, out, format, entries, running}')
    .option('--ui-url <url>', 'the Temporal UI the history link points to (default: TEMPORAL_UI_URL, else http://localhost:8233)');
  addConnectionOptions(command, cli).action(async (rolloutId: string, options: ReportOptions) => {
    const formatGiven = command.getOptionValueSource('format') === 'cli';
    if (options.json && !options.out && formatGiven && options.format !== 'json') {
      cli.err(`canary report: --json prints the report as JSON; drop --format ${options.format}, or write it with --out <file>`);
      cli.fail(ExitCode.Usage);
      return;
    }
    const format = options.json && !options.out ? 'json' : options.format;
    await withRollout(cli, rolloutId, async (handle, client) => {
      const execution = await cli.withServerDeadline(client, () => describeRollout(handle));
      const running = execution.executionStatus === 'RUNNING';
      if (!running && execution.executionStatus !== 'COMPLETED') {
        cli.err(
          `${rolloutId} is ${finishedText(execution.executionStatus.toLowerCase(), execution.closeTime)} without a rollout result; its history is in Temporal (\`temporal workflow show --workflow-id ${rolloutId}\`)`,
        );
        cli.fail(ExitCode.Failed);
        return;
      }
      let read: Pick<EvidenceInput, 'result' | 'status'>;
      if (running) {
        // A running rollout's record comes from its worker: refuse at once when none polls, and bound the wait.
        await cli.withServerDeadline(client, () => requireWorker(client, execution.taskQueue));
        read = await withAnswerDeadline(client, execution.taskQueue, cli.queryTimeoutMs, async () => ({
          result: await handle.query(resultQuery),
          status: await rolloutStatus(handle),
        }));
      } else {
        read = { result: await cli.withServerDeadline(client, () => rolloutResult(handle)) };
      }
      // The start (who, which plan) and the flag writes are in the history: the server answers, no worker is needed.
      const firstRunId = execution.description.raw.workflowExecutionInfo?.firstRunId || undefined;
      const facts = await cli.withServerDeadline(client, () => readHistoryFacts(client, rolloutId, firstRunId));
      const report = buildEvidenceReport({
        rolloutId,
        running,
        ...read,
        memo: execution.description.memo,
        generatedAt: cli.now(),
        execution: { runId: execution.runId, firstRunId: facts.firstRunId, namespace: client.options.namespace, uiUrl: options.uiUrl ?? cli.env.TEMPORAL_UI_URL ?? DEFAULT_UI_URL },
        ...(facts.plan ? { plan: facts.plan } : {}),
        ...(facts.startedBy ? { startedBy: facts.startedBy } : {}),
        flagWrites: facts.flagWrites,
      });
      if (options.bundle) {
        const evidence = facts.plan?.evidence;
        if (!evidence?.bundle && !evidence?.opsLog) {
          cli.err(`canary report --bundle: the plan of ${rolloutId} names no evidence.bundle or evidence.opsLog; write the report with --out <file>`);
          cli.fail(ExitCode.Usage);
          return;
        }
        let files: string[];
        try {
          files = await writeEvidenceBundle(report, read.result.opsLog, evidence, typeof options.bundle === 'string' ? options.bundle : undefined);
        } catch (err) {
          if (!(err instanceof EvidencePathRefused)) throw err;
          cli.err(`canary report --bundle: ${err.message}`);
          cli.fail(ExitCode.Usage);
          return;
        }
        if (options.json) cli.out(JSON.stringify({ rolloutId, files, entries: report.timeline.length, running }));
        else cli.out(`wrote ${files.join(', ')} (${report.timeline.length} ops-log entries${running ? ', rollout still running' : ''})`);
        return;
      }
      const text = RENDERERS[format]!(report);
      if (!options.out) {
        cli.io.stdout.write(text);
        return;
      }
      await mkdir(dirname(options.out), { recursive: true });
      await writeFile(options.out, text);
      if (options.json) cli.out(JSON.stringify({ rolloutId, out: options.out, format, entries: report.timeline.length, running }));
      else cli.out(`wrote ${options.out} (${format}, ${report.timeline.length} ops-log entries${running ? ', rollout still running' : ''})`);
    });
  });
}
