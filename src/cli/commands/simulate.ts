/**
 * `canary simulate <plan> --scenario <file>`: backtests a plan against a scenario on a virtual clock (no Temporal)
 * and prints the decision timeline and the outcome. With --json: `{outcome, finalPercent, decisions: [{at, phase,
 * action, reason}]}`. Exit 0; 1 when the scenario states an expected outcome and the plan does something else;
 * 2 for an invalid plan or scenario.
 */
import type { Command } from 'commander';
import { formatIssue, loadPlanFile } from '../../plan/load';
import { loadScenarioFile, type Scenario } from '../../simulate/scenario';
import { simulate, withAnalysisInterval } from '../../simulate/simulator';
import { tryParseDuration } from '../../domain/duration';
import { type CliContext, ExitCode } from '../context';

interface SimulateOptions {
  scenario: string;
  json?: boolean;
  interval?: string;
  start?: string;
}

/** Adds `simulate` to the program. */
export function registerSimulateCommand(program: Command, cli: CliContext): void {
  program
    .command('simulate')
    .description('backtest a plan against a scenario (metric values, incidents, approvals, operator commands) in milliseconds')
    .argument('<plan>', 'plan file (YAML or JSON)')
    .requiredOption('-s, --scenario <file>', 'scenario file (docs/scenarios.md)')
    .option('--json', 'print {outcome, finalPercent, decisions: [{at, phase, action, reason}]}')
    .option('--interval <duration>', "evaluate every <duration> instead of the plan's analysis.interval (e.g. 5m)")
    .option('--start <iso-time>', "start at this time instead of the scenario's start")
    .action(async (planFile: string, options: SimulateOptions) => {
      const loaded = await loadPlanFile(planFile);
      if (!loaded.ok) {
        loaded.issues.forEach((issue) => cli.err(formatIssue(issue)));
        cli.fail(ExitCode.Usage);
        return;
      }
      let scenario: Scenario;
      try {
        scenario = loadScenarioFile(options.scenario);
      } catch (err) {
        cli.err((err as Error).message);
        cli.fail(ExitCode.Usage);
        return;
      }
      if (options.interval !== undefined && tryParseDuration(options.interval) === undefined) {
        cli.err(`--interval: expected a duration such as 30s, 5m or 1h, got "${options.interval}"`);
        cli.fail(ExitCode.Usage);
        return;
      }
      const start = options.start === undefined ? undefined : Date.parse(options.start);
      if (start !== undefined && Number.isNaN(start)) {
        cli.err(`--start: expected an ISO 8601 time such as 2026-01-14T08:00:00Z, got "${options.start}"`);
        cli.fail(ExitCode.Usage);
        return;
      }
      const plan = options.interval ? withAnalysisInterval(loaded.plan, options.interval) : loaded.plan;
      const run = await simulate(plan, scenario, { start });

      if (options.json) {
        cli.out(JSON.stringify({ outcome: run.outcome, finalPercent: run.finalPercent, decisions: run.decisions.map(({ at, phase, action, reason }) => ({ at, phase, action, reason })) }, null, 2));
      } else {
        cli.out(`${plan.name} × ${scenario.name ?? options.scenario}`);
        const width = Math.max(5, ...run.decisions.map((d) => d.phase.length));
        for (const d of run.decisions) cli.out(`${d.offset.padStart(10)}  ${d.phase.padEnd(width)}  ${d.action.padEnd(14)}  ${d.reason}`);
        cli.out();
        const flags = Object.entries(run.flags).map(([key, f]) => `${key}=${f.enabled ? `${f.percent}%` : 'off'}`);
        cli.out(`outcome: ${run.outcome} at ${run.finalPercent}% after ${run.ticks} evaluation ticks${flags.length ? `; flags ${flags.join(', ')}` : ''}`);
        if (run.outcome === 'held') for (const w of run.state.waitingFor) cli.out(`  waiting for ${w}`);
      }
      const expected = scenario.expect;
      if (expected && (expected.outcome !== run.outcome || (expected.finalPercent !== undefined && expected.finalPercent !== run.finalPercent))) {
        const want = `${expected.outcome}${expected.finalPercent === undefined ? '' : ` at ${expected.finalPercent}%`}`;
        cli.err(`${options.scenario}: expected ${want}, got ${run.outcome} at ${run.finalPercent}%`);
        cli.fail(ExitCode.Failed);
      }
    });
}
