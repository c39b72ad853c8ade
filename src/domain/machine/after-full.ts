/**
 * After 100%: the last phase's own wait, golden re-freeze, stabilization and success criteria.
 */
import { type Run, currentPhase, log, notify, setStage, setStatus, setWaiting } from './context';
import { isSatisfied } from './observation';
import { phaseDone } from './progression';
import { finish, hold } from './safety';
import { runTask } from './tasks';

/** After the last phase: its own wait, re-freeze, stabilization, success criteria. Returns true if it moved. */
export function afterFull(run: Run): boolean {
  const { plan, state } = run;
  const after = plan.afterFull;
  switch (state.stage) {
    case 'final': {
      if (!phaseDone(run)) return false;
      setWaiting(run, []);
      const phase = currentPhase(run);
      if (phase?.def.permanent && !after) {
        finish(run, 'completed', `reached ${state.percent}% in ${phase.name}; the phase is permanent`);
        return false;
      }
      if (after?.refreeze?.length) {
        setStage(run, 'refreeze');
        log(run, 'refreeze', `full cutover stable: starting golden re-freeze (${after.refreeze.map((t) => t.name).join(', ')})`);
        continueRefreeze(run);
        return true;
      }
      return startStabilization(run);
    }
    case 'refreeze':
      return false;
    case 'stabilization': {
      const total = run.compiled.stabilization?.durationMs ?? 0;
      if (state.now - (state.stageStartedAt ?? state.now) < total) return false;
      const gates = run.compiled.stabilization?.gates ?? [];
      const failing = gates.filter(({ key, check, timing }) => !isSatisfied(run, key, check.when, timing).ok).map(({ check }) => check.name);
      log(run, 'stabilize', `stabilization of ${after?.stabilization?.duration} ended: ${failing.length ? `not stable: ${failing.join(', ')}` : 'stable'}`, undefined, true);
      notify(run, 'stabilization-report', `Stabilization ended: ${failing.length ? `not stable (${failing.join(', ')})` : 'stable'}`);
      for (const t of after?.stabilization?.tasks ?? []) if (t.on === 'exit') runTask(run, t, 'stabilization');
      return startSuccessCriteria(run);
    }
    case 'success-criteria': {
      const over = run.compiled.successCriteria?.overMs ?? 0;
      if (state.now - (state.stageStartedAt ?? state.now) < over) return false;
      const results: Record<string, 'pass' | 'fail' | 'inconclusive'> = {};
      for (const { key, check, timing } of run.compiled.successCriteria?.checks ?? []) {
        const track = state.tracks[key];
        const h = isSatisfied(run, key, check.when, timing);
        results[check.name] = h.ok ? 'pass' : track?.inconclusiveSince !== undefined ? 'inconclusive' : 'fail';
      }
      state.successCriteria = results;
      const summary = Object.entries(results).map(([k, v]) => `${k}: ${v}`).join(', ');
      log(run, 'success-criteria', `success criteria over ${after?.successCriteria?.over}: ${summary}`, undefined, true);
      finish(run, 'completed', `rollout complete at ${state.percent}%; success criteria ${summary}`);
      return false;
    }
    default:
      return false;
  }
}

/** Runs the golden re-freeze steps in order; a failed step holds the rollout. */
export function continueRefreeze(run: Run): void {
  const { state } = run;
  for (const step of run.compiled.refreeze) {
    const taskRun = state.taskRuns[step.key];
    if (!taskRun) {
      runTask(run, step.def, 'refreeze');
      if (!['snapshot', 'notify'].includes(step.def.run.type)) return;
      continue;
    }
    if (taskRun.ok === undefined) return;
    if (!taskRun.ok) {
      hold(run, `re-freeze step ${step.name} failed: ${taskRun.detail ?? 'no detail'}`, 'refreeze', { default: 'stay' });
      return;
    }
  }
  if (state.stage === 'refreeze') {
    log(run, 'refreeze', 'golden re-freeze complete');
    startStabilization(run);
  }
}

/** Stabilization at 100%, if the plan has one; otherwise straight to the success criteria. */
export function startStabilization(run: Run): boolean {
  const after = run.plan.afterFull;
  if (after?.stabilization) {
    setStage(run, 'stabilization');
    setStatus(run, 'stabilizing');
    log(run, 'stabilize', `stabilization for ${after.stabilization.duration} started${after.stabilization.tasks.length ? ` with tasks ${after.stabilization.tasks.map((t) => t.name).join(', ')}` : ''}`);
    for (const t of after.stabilization.tasks) if (t.on === 'enter') runTask(run, t, 'stabilization');
    return true;
  }
  return startSuccessCriteria(run);
}

/** Success criteria over their period, if the plan has them; otherwise the rollout is complete. */
function startSuccessCriteria(run: Run): boolean {
  const after = run.plan.afterFull;
  if (after?.successCriteria) {
    setStage(run, 'success-criteria');
    setStatus(run, 'stabilizing');
    log(run, 'success-criteria', `evaluating success criteria over ${after.successCriteria.over}`);
    return true;
  }
  finish(run, 'completed', `rollout complete at ${run.state.percent}%`);
  return false;
}
