/**
 * Where a task lives in a plan, by the scope the machine runs it in: a phase name, `stabilization`, `refreeze`,
 * `rollback`, or `trigger:<name>` for a trigger's runbook.
 */
import type { Plan, TaskDef } from './plan-schema';

/** The task `name` in `scope`, or undefined when the plan has no such task there. */
export function findPlanTask(plan: Plan, scope: string, name: string): TaskDef | undefined {
  return tasksInScope(plan, scope).find((t) => t.name === name);
}

function tasksInScope(plan: Plan, scope: string): TaskDef[] {
  switch (scope) {
    case 'refreeze':
      return plan.afterFull?.refreeze ?? [];
    case 'stabilization':
      return plan.afterFull?.stabilization?.tasks ?? [];
    case 'rollback':
      return plan.rollback.tasks ?? [];
  }
  if (scope.startsWith('trigger:')) {
    const name = scope.slice('trigger:'.length);
    const trigger = [...plan.triggers, ...plan.phases.flatMap((p) => p.triggers ?? [])].find((t) => t.name === name);
    return trigger?.tasks ?? [];
  }
  return plan.phases.find((p) => p.name === scope)?.tasks ?? [];
}
