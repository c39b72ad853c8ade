/** Where a task lives in a plan: the domain's lookup (src/domain/plan-tasks.ts), for the workflow and the simulator. */
export { findPlanTask } from '../domain/plan-tasks';
