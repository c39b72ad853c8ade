/**
 * `canary list [--status <status>] [--running] [--limit <n>] [--json]`: the rollouts on the server, newest first, from
 * the visibility store (search attributes; no worker needs to run): id, status, phase, percent, plan, start time.
 * No rollouts is not an error: it prints "no rollouts" and exits 0.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { listRollouts, type RolloutSummary } from '../../client';
import type { CliContext } from '../context';

interface ListOptions {
  status?: string;
  running?: boolean;
  limit: number;
  json?: boolean;
}

/** Adds `list` to the program. */
export function registerListCommand(program: Command, cli: CliContext): void {
  program
    .command('list')
    .description('list rollouts, newest first: id, status, phase, percent, plan, started')
    .option('--status <status>', 'only rollouts with this status (pending, running, holding, paused, completed, rolled_back, aborted, killed …)')
    .option('--running', 'only rollouts whose workflow is still running')
    .option('--limit <n>', 'at most this many', positiveInteger, 50)
    .option('--json', 'print one JSON object per rollout')
    .action(async (options: ListOptions) => {
      const rollouts = await listRollouts(await cli.client(), { status: options.status, running: options.running, limit: options.limit });
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

/** The rollouts as an aligned table with a header line; a missing search attribute shows as "-". */
export function renderRolloutTable(rollouts: readonly RolloutSummary[]): string[] {
  const rows = [
    ['ROLLOUT', 'STATUS', 'PHASE', 'PERCENT', 'PLAN', 'STARTED'],
    ...rollouts.map((r) => [
      r.workflowId,
      r.status ?? r.executionStatus.toLowerCase(),
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
