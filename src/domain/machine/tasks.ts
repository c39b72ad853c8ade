/**
 * Tasks: running a task (snapshot, notify, manual, command, http) and the ones due on a schedule.
 */
import { nextDailyAt, nextLocalTime } from '../calendar';
import type { CompiledTask } from '../compiled-plan';
import type { TaskDef } from '../plan-schema';
import { type Run, currentPhase, log } from './context';

/** Starts a task in `scope`: a snapshot or a notification is done at once, a manual task is assigned, others run. */
export function runTask(run: Run, task: TaskDef, scope: string): void {
  const { state } = run;
  const key = `${scope}:${task.name}`;
  state.taskRuns[key] = { at: state.now };
  switch (task.run.type) {
    case 'snapshot': {
      const names = task.run.metrics ?? Object.keys(state.latest);
      log(run, 'snapshot', `metrics snapshot (${task.name})`, undefined, true, names);
      state.taskRuns[key] = { at: state.now, ok: true };
      break;
    }
    case 'notify':
      run.commands.push({ type: 'notify', event: 'stabilization-report', channels: task.run.channels, message: task.run.message });
      state.taskRuns[key] = { at: state.now, ok: true };
      break;
    case 'manual':
      // A person does it and reports the result (a task-result event); nothing runs.
      log(run, 'task', `task ${task.name} assigned${task.run.role ? ` to ${task.run.role}` : ''}: ${task.description ?? task.name}`);
      break;
    default:
      run.commands.push({ type: 'run-task', task: task.name, scope });
  }
}

/** Runs the current phase's (or stabilization's) `every` and `daily` tasks that are due. */
export function runDueTasks(run: Run): void {
  const { state } = run;
  const due = (task: CompiledTask, scope: string) => {
    const { def } = task;
    const last = state.taskRuns[task.key]?.at;
    // repeatFor: "Week 1: daily health checks" — no repetitions once that long has passed since the stage began.
    const began = scope === 'stabilization' ? (state.stageStartedAt ?? state.phaseEnteredAt) : state.phaseEnteredAt;
    if (def.repeatFor !== undefined && state.now - began > (task.repeatForMs ?? Infinity)) return;
    const every = task.everyMs;
    if (def.on === 'every' && every !== undefined) {
      // A stabilization task's period counts from when stabilization began, not from the last phase's entry.
      const since = last ?? (state.rulesV3 && scope === 'stabilization' ? (state.stageStartedAt ?? state.phaseEnteredAt) : state.phaseEnteredAt);
      if (state.now - since >= every) runTask(run, def, scope);
    }
    if (def.on === 'daily' && def.at) {
      const tz = currentPhase(run)?.def.calendar?.timezone ?? 'UTC';
      const from = last ?? (state.stageStartedAt ?? state.phaseEnteredAt) - 1;
      const nextAt = state.rulesV3 ? nextLocalTime(from, def.at, tz) : nextDailyAt(from, def.at, tz);
      if (state.now >= nextAt) runTask(run, def, scope);
    }
  };
  const phase = currentPhase(run);
  if (phase && (state.stage === 'ramp' || state.stage === 'final') && state.status !== 'rolling-back') for (const t of phase.tasks) due(t, phase.name);
  if (state.stage === 'stabilization') for (const t of run.compiled.stabilization?.tasks ?? []) due(t, 'stabilization');
}
