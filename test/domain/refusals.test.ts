/**
 * Refusals are data: every refused message leaves an ops-log entry with `refusal: {code, message}`, so the workflow
 * (an update's failure), the report and the CLI read the kind of refusal without parsing its sentence.
 */
import { apply, initialState } from '../helpers/machine';
import type { RolloutEvent, RolloutState } from '../../src/domain/types';
import { testPlan } from '../helpers/test-plan';

const plan = testPlan(`
owner: owner@example.com
roles:
  cfo: { members: [cfo@example.com], signatureRequired: true }
  sre: { members: [sre@example.com] }
controls: { operators: [sre] }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: half, percent: 50, minDuration: 10m, approvals: [{ role: cfo }] }
  - { name: full, percent: 100, minDuration: 10m }
`);

function started(): RolloutState {
  const state = initialState(0);
  apply(plan, state, { type: 'start', at: 0 });
  apply(plan, state, { type: 'providers-checked', at: 0, offline: [] });
  return state;
}

function refusalOf(state: RolloutState, event: RolloutEvent) {
  const before = state.opsLog.length;
  apply(plan, state, event);
  return state.opsLog.slice(before).find((e) => e.action === 'refuse')?.refusal;
}

describe('a refused message carries its refusal as data', () => {
  it.each<[string, RolloutEvent, string]>([
    ['an operator the plan does not grant', { type: 'operator', at: 1, id: 'o1', command: 'resume', by: 'mallory@example.com', role: 'cfo' }, 'not-granted'],
    ['a stranger claiming a role', { type: 'operator', at: 1, id: 'o2', command: 'pause', by: 'mallory@example.com', role: 'sre' }, 'not-a-member'],
    ['a rollback without a reason', { type: 'operator', at: 1, id: 'o3', command: 'rollback', by: 'sre@example.com', role: 'sre' }, 'reason-required'],
    ['an unsigned CFO approval', { type: 'approval', at: 1, id: 'a1', role: 'cfo', by: 'cfo@example.com', decision: 'approve', subject: 'phase:half' }, 'signature-required'],
    ['an approval by an unknown role', { type: 'approval', at: 1, id: 'a2', role: 'ceo', by: 'ceo@example.com', decision: 'approve' }, 'unknown-role'],
    ['an approval for a phase not yet waiting', { type: 'approval', at: 1, id: 'a3', role: 'cfo', by: 'cfo@example.com', decision: 'approve', subject: 'phase:full' }, 'no-such-approval'],
    ['resume when nothing is paused', { type: 'operator', at: 1, id: 'o4', command: 'resume', by: 'sre@example.com', role: 'sre' }, 'nothing-to-resume'],
    ['a token the plan does not have', { type: 'consume-token', at: 1, id: 't1', token: 'NOPE', by: 'sre@example.com', role: 'sre' }, 'unknown-token'],
    ['a malformed payload', { type: 'message-refused', at: 1, message: 'approve message', reason: 'role: expected a string' }, 'malformed'],
  ])('%s', (_what, event, code) => {
    const refusal = refusalOf(started(), event);
    expect(refusal?.code).toBe(code);
    expect(refusal?.message.length).toBeGreaterThan(0);
  });

  it('says in its message what was refused, without the message it refuses', () => {
    const state = started();
    const refusal = refusalOf(state, { type: 'operator', at: 1, id: 'o1', command: 'pause', by: 'mallory@example.com', role: 'sre' });
    expect(refusal).toEqual({ code: 'not-a-member', message: 'mallory@example.com does not hold the role sre' });
    expect(state.opsLog.at(-1)?.reason).toBe('pause by mallory@example.com refused: mallory@example.com does not hold the role sre');
  });

  it('refuses anything after the rollout finished as finished', () => {
    const state = started();
    apply(plan, state, { type: 'operator', at: 1, id: 'k', command: 'kill', by: 'sre@example.com', role: 'sre', reason: 'stop' });
    expect(refusalOf(state, { type: 'operator', at: 2, id: 'o9', command: 'pause', by: 'sre@example.com', role: 'sre' })?.code).toBe('finished');
  });
});

describe('reports from people are checked like every other message (rules v3)', () => {
  const tasks = testPlan(`
roles:
  qa: { members: [qa@example.com] }
budgets:
  - { name: canary, currency: USD, limit: 100, phases: [canary] }
phases:
  - name: canary
    percent: 10
    minDuration: 10m
    tasks:
      - { name: sign-off, on: enter, required: true, run: { type: manual, role: qa } }
      - { name: smoke, on: enter, run: { type: command, command: ./smoke.sh } }
  - { name: full, percent: 100, minDuration: 10m }
`);
  const inCanary = () => {
    const state = initialState(0);
    apply(tasks, state, { type: 'start', at: 0 });
    apply(tasks, state, { type: 'providers-checked', at: 0, offline: [] });
    return state;
  };
  const report = (state: RolloutState, task: string, by: string) => {
    const before = state.opsLog.length;
    apply(tasks, state, { type: 'task-result', at: 60_000, task, scope: 'canary', ok: true, by });
    return state.opsLog.slice(before).find((e) => e.action === 'refuse')?.refusal;
  };

  it('a manual task is reported done by the role it is assigned to', () => {
    const state = inCanary();
    expect(report(state, 'sign-off', 'qa@example.com')).toBeUndefined();
    expect(state.taskRuns['canary:sign-off']?.ok).toBe(true);
  });

  it('not by someone outside that role', () => {
    const state = inCanary();
    expect(report(state, 'sign-off', 'mallory@example.com')).toEqual({ code: 'not-a-member', message: 'mallory@example.com does not hold the role qa (task sign-off is assigned to it)' });
    expect(state.taskRuns['canary:sign-off']?.ok).toBeUndefined();
  });

  it('a worker task’s result never comes from a message', () => {
    expect(report(inCanary(), 'smoke', 'qa@example.com')?.code).toBe('worker-task');
  });

  it('a task the plan does not have is refused', () => {
    expect(report(inCanary(), 'nope', 'qa@example.com')?.code).toBe('unknown-task');
  });

  it('reported spend only grows: a lower total cannot lift a budget hold', () => {
    const state = inCanary();
    apply(tasks, state, { type: 'spend', at: 60_000, id: 's1', budget: 'canary', total: 150 });
    expect(state.status).toBe('holding');
    apply(tasks, state, { type: 'spend', at: 120_000, id: 's2', budget: 'canary', total: 0 });
    expect(state.opsLog.at(-1)?.refusal).toEqual({ code: 'spend-decrease', message: 'spend on canary only grows: 0 is below the 150 already reported' });
    expect(state.status).toBe('holding');
    expect(state.spend.canary).toBe(150);
  });
});
