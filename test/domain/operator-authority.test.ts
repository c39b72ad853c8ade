import { apply, initialState } from '../helpers/machine';
import type { OperatorCommand, RolloutState } from '../../src/domain/types';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';

function planWith(extra: string): Plan {
  const text = `
apiVersion: canary/v1
id: t
name: Authority
owner: owner@example.com
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
roles:
  release-manager: { members: [rm@example.com] }
  on-call: { members: [oncall@example.com] }
  cfo: { members: [cfo@example.com] }
analysis: { interval: 1m }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: half, percent: 50, minDuration: 10m, approvals: [{ role: cfo }] }
  - { name: full, percent: 100, minDuration: 10m }
${extra}`;
  const loaded = parsePlanText(text, 'authority.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

/** A rollout in its first phase, then one operator command; the ops log line it caused and the state after. */
function command(plan: Plan, command: OperatorCommand, by: string, role?: string): { state: RolloutState; line: string } {
  const state = initialState(0);
  apply(plan, state, { type: 'start', at: 0 });
  apply(plan, state, { type: 'providers-checked', at: 0, offline: [] });
  const before = state.opsLog.length;
  apply(plan, state, { type: 'operator', at: 1_000, id: 'op-1', command, by, role, reason: 'because' });
  const line = state.opsLog.slice(before).map((e) => `${e.action}: ${e.reason}`).join(' | ');
  return { state, line };
}

const NO_GRANT = '';
const GRANTS = 'controls: { operators: [release-manager], safety: [on-call], forcePromote: { roles: [release-manager] } }';

describe('operator commands need authority the plan grants', () => {
  it.each<[string, string, OperatorCommand, string, string | undefined, RegExp]>([
    ['a plan with no grant refuses promote --force from anyone', NO_GRANT, 'force-promote', 'mallory@evil', undefined, /refuse: .*promote --force is off for this plan/],
    ['a plan with no grant refuses promote --force even from its owner', NO_GRANT, 'force-promote', 'owner@example.com', undefined, /refuse: .*promote --force is off/],
    ['a plan with no grant refuses pause from a stranger, naming the owner', NO_GRANT, 'pause', 'mallory@evil', undefined, /refuse: pause by mallory@evil refused: pause needs the plan owner \(owner@example.com\)/],
    ['a plan with no grant refuses rollback from a stranger', NO_GRANT, 'rollback', 'mallory@evil', undefined, /refuse: .*rollback needs the plan owner/],
    ['a plan with no grant lets its owner roll back', NO_GRANT, 'rollback', 'owner@example.com', undefined, /^rollback: ROLLBACK: rollback requested by owner@example.com/],
    ['operators may promote', GRANTS, 'promote', 'rm@example.com', 'release-manager', /^promote: promoted by rm@example.com \(release-manager\)/],
    ['a safety role may roll back', GRANTS, 'rollback', 'oncall@example.com', 'on-call', /^rollback: ROLLBACK/],
    ['a safety role may kill', GRANTS, 'kill', 'oncall@example.com', 'on-call', /^kill: KILL/],
    ['a safety role may not promote', GRANTS, 'promote', 'oncall@example.com', 'on-call', /refuse: .*promote needs one of the roles release-manager, not on-call/],
    ['a safety role may not force-promote', GRANTS, 'force-promote', 'oncall@example.com', 'on-call', /refuse: .*promote --force needs one of the roles release-manager, not on-call/],
    ['a command that names no role is refused, naming the roles', GRANTS, 'pause', 'rm@example.com', undefined, /refuse: .*pause needs one of the roles release-manager, on-call; the command named no role/],
    ['a claimed role the sender does not hold is refused', GRANTS, 'rollback', 'mallory@evil', 'on-call', /refuse: .*mallory@evil does not hold the role on-call/],
    ['a role the plan does not grant is refused', GRANTS, 'rollback', 'cfo@example.com', 'cfo', /refuse: .*rollback needs one of the roles release-manager, on-call, not cfo/],
    ['the force-promote role may skip to 100%', GRANTS, 'force-promote', 'rm@example.com', 'release-manager', /^force-promote: promote --force by rm@example.com/],
  ])('%s', (_name, grants, cmd, by, role, expected) => {
    const { line } = command(planWith(grants), cmd, by, role);
    expect(line).toMatch(expected);
  });

  it('a refused promote --force leaves traffic and the pending CFO approval where they were', () => {
    const { state } = command(planWith(NO_GRANT), 'force-promote', 'mallory@evil');
    expect(state.percent).toBe(10);
    expect(state.status).toBe('running');
    expect(state.outcome).toBeUndefined();
  });
});

describe('a flood of malformed messages', () => {
  it('is refused one by one up to 100, then counted, so the ops log stays bounded', () => {
    const p = planWith('');
    const state = initialState(0);
    apply(p, state, { type: 'start', at: 0 });
    const before = state.opsLog.length;
    for (let i = 1; i <= 1_000; i++) apply(p, state, { type: 'message-refused', at: i, message: 'operator message', reason: 'malformed payload: by: expected string' });
    const refused = state.opsLog.slice(before).filter((e) => e.action === 'refuse');
    expect(refused).toHaveLength(109);
    expect(refused.at(-1)?.reason).toBe('operator message refused: malformed payload: by: expected string (1000 malformed messages so far; past 100, every 100th is logged)');
    expect(state.malformedMessages).toBe(1_000);
  });
});
