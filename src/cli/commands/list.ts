/**
 * `canary list [--status <status>] [--running] [--limit <n>] [--json]`: the rollouts on the server, newest first, from
 * the visibility store (search attributes; no worker needs to run): id, the rollout's status, its workflow's
 * execution status, phase, percent, plan, and when the rollout started (the first run of its continue-as-new chain).
 * The rollout's status is what it last published; a workflow terminated from outside keeps `running` there, and the
 * WORKFLOW column says `terminated`. `--status` with a status of a live rollout (running, holding, paused …) lists
 * only rollouts whose workflow is running too: a terminated, failed or timed-out workflow is never listed as running.
 * Only rollout workflows are listed, never the flag locks.
 * No rollouts is not an error: it prints "no rollouts" and exits 0.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { listRollouts, type RolloutSummary } from '../../client';
import { addConnectionOptions } from '../connection-options';
import type { CliContext } from '../context';

interface ListOptions {
  status?: string;
  running?: boolean;
  limit: number;
  json?: boolean;
}

/** Adds `list` to the program. */
export function registerListCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('list')
    .description('list rollouts, newest first: id, status, workflow execution status, phase, percent, plan, started')
    .option('--status <status>', 'only rollouts with this status (pending, running, holding, paused, completed, rolled_back, aborted, killed …); a status of a live rollout also needs its workflow running')
    .option('--running', 'only rollouts whose workflow is still running')
    .option('--limit <n>', 'at most this many', positiveInteger, 50)
    .option('--json', 'print one JSON object per rollout: {workflowId, runId, firstRunId, executionStatus, status, planId, phase, percent, startTime, runStartTime, closeTime}');
  addConnectionOptions(command, cli).action(async (options: ListOptions) => {
    const client = await cli.client();
    const rollouts = await cli.withServerDeadline(client, () => listRollouts(client, { status: options.status, running: options.running, limit: options.limit }));
    if (options.json) {
      for (const r of rollouts) cli.out(JSON.stringify(r));
      return;
    }
    if (rollouts.length === 0) {
      cli.out(options.status ? `no rollouts with status ${options.status}` : 'no rollouts');
      return;
    }
    renderRolloutTable(rollouts).forEach((line) => cli.out(line));
  });
}

/** Temporal's execution status as the table shows it: running, completed, terminated, failed, timed-out, continued-as-new … */
export function executionStatusWord(executionStatus: string): string {
  return executionStatus.toLowerCase().replace(/_/g, '-');
}

/**
 * The rollouts as an aligned table with a header line: STATUS is the rollout's own, WORKFLOW its workflow's execution
 * status, STARTED the start of the rollout's first run; a missing search attribute shows as "-".
 */
export function renderRolloutTable(rollouts: readonly RolloutSummary[]): string[] {
  const rows = [
    ['ROLLOUT', 'STATUS', 'WORKFLOW', 'PHASE', 'PERCENT', 'PLAN', 'STARTED'],
    ...rollouts.map((r) => [
      r.workflowId,
      r.status ?? '-',
      executionStatusWord(r.executionStatus),
      r.phase ?? '-',
      r.percent === undefined ? '-' : `${r.percent}%`,
      r.planId ?? '-',
      r.startTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '));
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return value;
}
