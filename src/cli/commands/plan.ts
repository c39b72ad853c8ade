/**
 * `canary plan <file>`: the plan as a timeline a person can check before approving it — what must be true before
 * phase 1, then per phase its traffic, minimum duration and earliest start, the gates, approvals, triggers, changes
 * and tasks, then what happens after 100%, ending with the minimum total duration. With --json, the
 * {@link PlanTimeline} itself. A plan with issues prints them (stderr) and exits 2.
 */
import type { Command } from 'commander';
import { formatIssue, loadPlanFile } from '../../plan/load';
import { planTimeline, type DescribedCheck, type PhaseStep, type PlanTimeline, type TokenStep, type TriggerStep } from '../../plan/timeline';
import { type CliContext, ExitCode } from '../context';

/** Adds `plan` to the program. */
export function registerPlanCommand(program: Command, cli: CliContext): void {
  program
    .command('plan')
    .description('print the timeline of a plan: phases, durations, gates, approvals, triggers, tasks')
    .argument('<file>', 'plan file (YAML or JSON)')
    .option('--json', 'print the timeline as JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      const result = await loadPlanFile(file);
      if (!result.ok) {
        result.issues.forEach((issue) => cli.err(formatIssue(issue)));
        cli.fail(ExitCode.Usage);
        return;
      }
      const timeline = planTimeline(result.plan);
      if (options.json) cli.out(JSON.stringify(timeline, null, 2));
      else renderTimeline(timeline).forEach((line) => cli.out(line));
    });
}

/** The timeline as text lines, indented by two spaces per level. */
export function renderTimeline(t: PlanTimeline): string[] {
  const lines: string[] = [];
  const add = (depth: number, text: string) => lines.push(`${'  '.repeat(depth)}${text}`);
  const list = (depth: number, title: string, items: string[]) => {
    if (items.length === 0) return;
    add(depth, `${title}:`);
    items.forEach((item) => add(depth + 1, item));
  };
  const checks = (items: DescribedCheck[]) => items.map((c) => `${c.name}: ${c.text}`);
  const triggers = (depth: number, items: TriggerStep[]) =>
    items.forEach((r) => {
      add(depth, `${r.name}${r.severity ? ` (${r.severity})` : ''}: ${r.text}`);
      list(depth + 1, 'runbook', r.runbook);
    });
  const tokens = (depth: number, items: TokenStep[]) =>
    items.forEach((k) => list(depth, `${k.id}: consumed by ${k.role} once these pass, otherwise ${k.onUnmet}`, checks(k.requires)));

  add(0, `${t.name} (${t.id}${t.runId ? `, run ${t.runId}` : ''})`);
  if (t.owner) add(0, `owner: ${t.owner}`);
  add(0, `target: ${t.target.flags.join(', ')} in ${t.target.provider}, environment ${t.target.environment}`);
  add(0, `analysis: ${t.analysis}`);

  const before = t.beforeStart;
  if (before.preconditions.length > 0 || before.tokens.length > 0) {
    add(0, '');
    add(0, 'Before phase 1');
    list(1, 'preconditions', checks(before.preconditions));
    if (before.tokens.length > 0) add(1, 'tokens:');
    tokens(2, before.tokens);
  }

  if (t.triggers.length > 0) {
    add(0, '');
    add(0, 'Throughout the rollout');
    add(1, 'triggers:');
    triggers(2, t.triggers);
  }

  for (const p of t.phases) {
    add(0, '');
    add(0, `Phase ${p.number} ${p.name}: ${p.percent}% — ${phaseTime(p)}`);
    if (p.description) add(1, p.description);
    list(1, 'cohorts', p.cohorts);
    list(1, 'calendar', p.calendar);
    if (p.tokens.length > 0) add(1, 'tokens before it starts:');
    tokens(2, p.tokens);
    list(1, 'entry checks', checks(p.entry));
    list(1, 'approvals', p.approvals.map((a) => a.text));
    list(1, 'stays until', checks(p.until));
    const last = p.number === t.phases.length;
    list(1, last ? 'gates to complete' : 'gates to advance', p.gates.map((g) => `${g.name}${g.shared ? ' (shared)' : ''}: ${g.text}`));
    // Rollout-wide triggers are described once above; here by name and action, then the phase's own in full.
    if (p.triggers.length > 0) add(1, 'triggers:');
    const rolloutWide = p.triggers.filter((r) => r.scope === 'rollout');
    if (rolloutWide.length > 0) add(2, `rollout-wide: ${rolloutWide.map((r) => `${r.name} → ${r.action}`).join(', ')}`);
    triggers(2, p.triggers.filter((r) => r.scope === 'phase'));
    list(1, 'config changes', p.configChanges);
    list(1, 'tasks', p.tasks);
    list(1, 'budgets', p.budgets);
  }

  const after = t.afterFull;
  if (after) {
    add(0, '');
    add(0, 'After 100%');
    if (after.stabilization) {
      const s = after.stabilization;
      add(1, `stabilization: ${s.duration}${s.minDuration ? ` (at least ${s.minDuration})` : ''}`);
      list(2, 'tasks', s.tasks);
      list(2, 'gates', checks(s.gates));
    }
    if (after.successCriteria) list(1, `success criteria over ${after.successCriteria.over}`, checks(after.successCriteria.checks));
    list(1, 're-freeze, in order', after.refreeze.map((step, i) => `${i + 1}. ${step}`));
  }

  add(0, '');
  const r = t.rollback;
  add(0, `On rollback: ${r.target === 'off' ? 'flags off' : 'back to the previous percent'}`);
  if (r.verify) list(1, `verify within ${r.verify.within}`, checks(r.verify.checks));
  list(1, 'tasks', r.tasks);
  list(0, 'Controls', t.controls);
  list(0, 'Notifications', t.notifications);

  add(0, '');
  add(0, `minimum total: ${t.minimumTotal}${t.waitsFor.length > 0 ? `, plus waiting for ${t.waitsFor.join(', ')}` : ''}`);
  return lines;
}

function phaseTime(p: PhaseStep): string {
  const parts: string[] = [];
  if (p.permanent) parts.push('permanent');
  if (p.minDuration) parts.push(`at least ${p.minDuration}`);
  // Still waiting at the maximum, the machine holds the rollout for a decision.
  if (p.maxDuration) parts.push(`at most ${p.maxDuration}, then hold if still waiting`);
  if (parts.length === 0) parts.push('no minimum duration');
  const window = p.earliestEndMs > p.earliestStartMs ? `T+${p.earliestStart} to T+${p.earliestEnd}` : `from T+${p.earliestStart}`;
  return `${parts.join(', ')}; ${window} at the earliest`;
}
