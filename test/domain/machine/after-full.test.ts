/**
 * after-full.ts: what follows 100% — the last phase's own wait, then golden re-freeze, stabilization and success
 * criteria, each only if the plan has it, in that order — and how each ends: a failed re-freeze step holds,
 * stabilization reports stable or not, each success criterion is pass, fail or inconclusive.
 */
import type { MetricReading, RolloutState } from '../../../src/domain/types';
import type { Plan } from '../../../src/plan/schema';
import { resultOf } from '../../helpers/machine';
import { testPlan } from '../../helpers/test-plan';
import { HOUR, MINUTE, commandsOf, drive, operator, send, started, tick } from './helpers';

const PHASES = `
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m }
`;
const plan = (afterFull: string, extra = ''): Plan =>
  testPlan(
    `
analysis: { interval: 1m }
roles: { rm: { members: [rm@example.com] }, tech-lead: { members: [lead@example.com] } }
controls: { operators: [rm] }
channels: { ops: { type: log } }
${extra}
${PHASES}
afterFull:
${afterFull}
`,
    { id: 'after-full', metrics: { error_rate: 'ratio', p95: 'ms', uptime: 'ratio' } },
  );

const REFREEZE = `
  refreeze:
    - { name: tag, run: { type: command, command: git tag golden } }
    - { name: snap, run: { type: snapshot } }`;
const STABILIZATION = `
  stabilization:
    duration: 1h
    gates: [{ name: latency, when: { kind: threshold, metric: p95, op: "<", value: 500 } }]
    tasks:
      - { name: announce, run: { type: notify, channels: [ops], message: at 100% } }
      - { name: retro, on: exit, run: { type: command, command: ./retro.sh } }`;
const SUCCESS = `
  successCriteria:
    over: 2h
    checks: [{ name: latency, when: { kind: threshold, metric: p95, op: "<", value: 500 } }]`;

/** The after-100% decisions of a run, as `<offset> <action>: <reason>`. */
const afterFullLines = (log: string[]) => log.filter((l) => / (refreeze|stabilize|success-criteria|complete|snapshot):/.test(l));

describe('after the last phase, each stage the plan has runs in order: re-freeze, stabilization, success criteria', () => {
  it.each<[string, string | undefined, string[]]>([
    ['none: complete once the last phase’s own wait is over', undefined, ['20m complete: rollout complete at 100%']],
    ['all three', `${REFREEZE}${STABILIZATION}${SUCCESS}`, [
      '20m refreeze: full cutover stable: starting golden re-freeze (tag, snap)',
      '20m snapshot: metrics snapshot (snap)',
      '20m refreeze: golden re-freeze complete',
      '20m stabilize: stabilization for 1h started with tasks announce, retro',
      '80m stabilize: stabilization of 1h ended: stable',
      '80m success-criteria: evaluating success criteria over 2h',
      '200m success-criteria: success criteria over 2h: latency: pass',
      '200m complete: rollout complete at 100%; success criteria latency: pass',
    ]],
    ['stabilization alone', STABILIZATION, [
      '20m stabilize: stabilization for 1h started with tasks announce, retro',
      '80m stabilize: stabilization of 1h ended: stable',
      '80m complete: rollout complete at 100%',
    ]],
    ['success criteria alone', SUCCESS, [
      '20m success-criteria: evaluating success criteria over 2h',
      '140m success-criteria: success criteria over 2h: latency: pass',
      '140m complete: rollout complete at 100%; success criteria latency: pass',
    ]],
  ])('%s', async (_rule, afterFull, expected) => {
    const p = afterFull === undefined ? testPlan(PHASES) : plan(afterFull);
    const run = await drive(p, { horizon: 6 * HOUR, metric: (m) => (m === 'p95' ? 200 : 0) });
    expect(run.state.outcome).toBe('completed');
    expect(afterFullLines(run.log)).toEqual(expected);
  });
});

describe('golden re-freeze', () => {
  const p = plan(`
  refreeze:
    - { name: tag, run: { type: command, command: git tag golden } }
    - { name: note, run: { type: notify, channels: [ops], message: tagged } }
    - { name: lock, run: { type: manual, role: rm } }
    - { name: push, run: { type: command, command: git push --tags } }`);
  /** At the end of the last phase: re-freeze has started. */
  const refreezing = (): { state: RolloutState; first: string[] } => {
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    const { commands } = send(p, state, tick(20 * MINUTE));
    return { state, first: commandsOf(commands, 'run-task').map((c) => c.task) };
  };
  const done = (state: RolloutState, task: string, ok = true) => send(p, state, { type: 'task-result', at: state.now, task, scope: 'refreeze', ok, ...(ok ? {} : { detail: 'exit 128' }) });

  it('runs its steps one at a time, in order; a notification does not wait, a manual step waits for its result', () => {
    const { state, first } = refreezing();
    expect(first).toEqual(['tag']);
    const afterTag = done(state, 'tag');
    expect(commandsOf(afterTag.commands, 'notify').map((c) => c.message)).toEqual(['tagged']);
    expect(afterTag.lines).toContain('task: task lock assigned to rm: lock');
    expect(commandsOf(afterTag.commands, 'run-task')).toEqual([]);
    expect(commandsOf(done(state, 'lock').commands, 'run-task').map((c) => c.task)).toEqual(['push']);
    const last = done(state, 'push');
    expect(last.lines).toContain('refreeze: golden re-freeze complete');
    expect(state.outcome).toBe('completed');
  });

  it('holds on a failed step, naming it', () => {
    const { state } = refreezing();
    const { lines } = done(state, 'tag', false);
    expect(lines).toContainEqual(expect.stringMatching(/^hold: HOLD: re-freeze step tag failed: exit 128/));
    expect(state).toMatchObject({ status: 'holding', stage: 'refreeze', hold: { cause: 'refreeze', default: 'stay' } });
  });

  // Fixed by rules v3; before (after-full.ts: the `refreeze` stage moves on only from a task result, `continueRefreeze`): resuming a hold
  // on a failed re-freeze step leaves the rollout in the refreeze stage with status "stabilizing", nothing run again,
  // no wake-up, and a wait that still shows the hold that is gone — stuck for good.
  it('resumed after a failed step runs the step again', () => {
    const { state } = refreezing();
    done(state, 'tag', false);
    const { commands } = send(p, state, operator(25 * MINUTE, 'resume', 'rm@example.com', 'rm', 'retry the tag'));
    expect(commandsOf(commands, 'run-task').map((c) => c.task)).toEqual(['tag']);
  });
});

describe('stabilization', () => {
  const p = plan(STABILIZATION, `
notifications: [{ on: [stabilization-report], channels: [ops] }]
triggers:
  - { name: errors, when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }, action: rollback }
  - { name: sev2, when: { kind: incidents, atLeast: { Sev-2: 1 } }, action: hold }`);

  it('ends exactly its duration after it began, stable when its gates hold, and starts its exit tasks', async () => {
    const run = await drive(p, { horizon: 3 * HOUR, metric: (m) => (m === 'p95' ? 200 : 0) });
    expect(run.log).toContain('80m stabilize: stabilization of 1h ended: stable');
    expect(run.tasks.filter((t) => t.scope === 'stabilization')).toEqual([{ at: 80 * MINUTE, scope: 'stabilization', task: 'retro' }]);
    expect(run.notified.filter((n) => n.event === 'stabilization-report').map((n) => n.at / MINUTE)).toEqual([20, 80]);
  });

  it('reports “not stable” with the gates that fail at its end, on the reading taken then', async () => {
    const run = await drive(p, { horizon: 3 * HOUR, metric: (m, at) => (m === 'p95' ? (at >= 80 * MINUTE ? 900 : 200) : 0) });
    expect(run.log).toContain('80m stabilize: stabilization of 1h ended: not stable: latency');
    expect(run.state.outcome).toBe('completed');
  });

  it('keeps the last phase’s triggers in force: a breach rolls back at 100%', async () => {
    const run = await drive(p, { horizon: 3 * HOUR, metric: (m, at) => (m === 'error_rate' && at >= 50 * MINUTE ? 0.2 : m === 'p95' ? 200 : 0) });
    expect(run.state.outcome).toBe('rolled_back');
    expect(run.state.opsLog.find((e) => e.action === 'rollback')?.at).toBe(50 * MINUTE);
  });

  it('resumed after a hold goes on stabilizing, not running', () => {
    const state = started(p, 0, { values: { p95: 200 } });
    send(p, state, tick(10 * MINUTE), { p95: 200 });
    send(p, state, tick(20 * MINUTE), { p95: 200 });
    expect(state.stage).toBe('stabilization');
    send(p, state, { type: 'incident', at: 30 * MINUTE, id: 'i1', severity: 'Sev-2', title: 'slow' });
    expect(state.status).toBe('holding');
    send(p, state, operator(31 * MINUTE, 'resume', 'rm@example.com', 'rm'));
    expect(state).toMatchObject({ status: 'stabilizing', stage: 'stabilization' });
  });
});

describe('success criteria, judged at the end of their period', () => {
  const p = plan(`
  successCriteria:
    over: 1h
    checks:
      - { name: latency, when: { kind: threshold, metric: p95, op: "<", value: 500 } }
      - { name: docs, when: { kind: attestation, check: docs, role: tech-lead } }`);
  const noData: MetricReading = { status: 'no-data' };
  const down: MetricReading = { status: 'error', detail: 'timeout' };

  it.each<[string, (at: number) => number | MetricReading, 'pass' | 'fail' | 'inconclusive']>([
    ['a criterion met by the reading at the end passes', () => 200, 'pass'],
    ['a criterion broken by the reading at the end fails', (at) => (at >= 80 * MINUTE ? 900 : 200), 'fail'],
    ['a criterion without data at the end is inconclusive, not failed', (at) => (at >= 70 * MINUTE ? noData : 200), 'inconclusive'],
    ['a criterion whose source is down at the end is inconclusive, not failed', (at) => (at >= 80 * MINUTE ? down : 200), 'inconclusive'],
  ])('%s', async (_rule, p95, expected) => {
    const run = await drive(p, { horizon: 3 * HOUR, metric: (m, at) => (m === 'p95' ? p95(at) : 0) });
    expect(run.state.successCriteria).toEqual({ latency: expected, docs: 'fail' });
    expect(run.state.outcome).toBe('completed');
    expect(resultOf(p, run.state).successCriteria).toEqual(run.state.successCriteria);
  });

  it('an attestation given before the end passes', () => {
    const state = started(p, 0, { values: { p95: 200 } });
    send(p, state, tick(10 * MINUTE), { p95: 200 });
    send(p, state, tick(20 * MINUTE), { p95: 200 });
    send(p, state, { type: 'attestation', at: 30 * MINUTE, id: 'docs', check: 'docs', by: 'lead@example.com' });
    send(p, state, tick(80 * MINUTE), { p95: 200 });
    expect(state.successCriteria).toEqual({ latency: 'pass', docs: 'pass' });
    expect(state.opsLog.at(-1)?.reason).toBe('rollout complete at 100%; success criteria latency: pass, docs: pass');
  });

  // Fixed by rules v3; before (compile.ts `checksInForce` knows only phase gates, entry checks, triggers and `until`): an http or command
  // success criterion (or stabilization gate, or rollback verification check) is never run, so it is judged "fail"
  // at the end of the period without ever having been asked.
  it('an http criterion is run before it is judged', async () => {
    const http = plan(`
  successCriteria:
    over: 1h
    checks: [{ name: healthz, when: { kind: http, url: "http://localhost:3000/healthz" } }]`);
    const run = await drive(http, { horizon: 3 * HOUR });
    expect(run.checks.map((c) => c.check)).toContain('http:GET http://localhost:3000/healthz → 200');
    expect(run.state.successCriteria).toEqual({ healthz: 'pass' });
  });
});
