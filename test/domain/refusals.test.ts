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
