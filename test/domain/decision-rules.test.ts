/**
 * Decision rules, each a table of cases named by the rule: decisions use the newest reading, a consecutive-windows
 * gate does not ignore its open window, and a hold's decider binds the ways out of it toward more traffic. Each rule
 * also keeps its old behaviour for rollouts started before it (state.trustV2 unset), as their histories recorded.
 */
import { apply, initialState } from '../helpers/machine';
import type { Plan } from '../../src/plan/schema';
import { testPlan } from '../helpers/test-plan';
import { driveVirtually, MINUTE } from '../helpers/virtual-driver';

const plan = (body: string): Plan => testPlan(`analysis: { interval: 1m }\n${body}`, { id: 'rules' });

const advances = (written: Array<{ at: number; percent: number }>) => written.filter((w) => w.percent === 100).map((w) => w.at / MINUTE);

describe('an observation taken at an instant is applied before any decision at that instant', () => {
  // The minimum ends on an evaluation tick (10m); the reading taken at that tick is the first bad one.
  const p = plan(`
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m }
`);
  const errorRate = (_name: string, at: number) => (at >= 10 * MINUTE ? 0.015 : 0.002);

  it.each<[string, boolean | undefined, number[]]>([
    ['does not advance on the previous tick’s reading when the minimum ends on a tick', true, []],
    ['(rollouts started before the rule advanced on the previous reading)', false, [10]],
  ])('%s', async (_name, trustV2, expected) => {
    const run = await driveVirtually(p, { horizon: 30 * MINUTE, initial: { trustV2 }, metric: errorRate });
    expect(advances(run.written)).toEqual(expected);
  });

  it('cites the reading of that instant when it advances', async () => {
    const run = await driveVirtually(p, { horizon: 30 * MINUTE, metric: (_n, at) => (at >= 10 * MINUTE ? 0.004 : 0.002) });
    const advance = run.state.opsLog.find((e) => e.action === 'advance');
    expect(advance).toMatchObject({ at: 10 * MINUTE, metrics: { error_rate: 0.004 } });
  });
});

describe('a consecutive-windows gate is met only when the last N closed windows passed and the open window holds no failing reading', () => {
  const p = plan(`
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, window: 5m, consecutiveWindows: 2 }
phases:
  - { name: canary, percent: 10, minDuration: 12m }
  - { name: full, percent: 100, minDuration: 10m }
`);
  // Windows start at the phase's first evaluation (1m): 1–6m and 6–11m pass; the window open from 11m fails at 12m,
  // the instant the minimum ends.
  const errorRate = (_name: string, at: number) => (at === 12 * MINUTE ? 0.05 : 0.002);

  it.each<[string, boolean | undefined, number[]]>([
    ['waits out a failing reading in the open window (advances once two clean windows closed, at 26m)', true, [26]],
    ['(rollouts started before the rule advanced at the minimum, mid-way through the bad window)', false, [12]],
  ])('%s', async (_name, trustV2, expected) => {
    const run = await driveVirtually(p, { horizon: 40 * MINUTE, initial: { trustV2 }, metric: errorRate });
    expect(advances(run.written)).toEqual(expected);
  });
});

describe('a hold that says who decides binds every exit toward more traffic; exits toward safety stay open', () => {
  const p = plan(`
roles:
  ceo: { members: [ceo@example.com] }
  sre: { members: [sre@example.com] }
controls: { operators: [sre, ceo] }
triggers:
  - name: sev2s
    when: { kind: incidents, atLeast: { Sev-2: 2 } }
    action: hold
    hold: { decidedBy: [ceo], default: stay }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m }
`);
  const held = (trustV2 = true) => {
    const state = { ...initialState(0), trustV2 };
    apply(p, state, { type: 'start', at: 0 });
    apply(p, state, { type: 'providers-checked', at: 0, offline: [] });
    apply(p, state, { type: 'incident', at: 1_000, id: 'i1', severity: 'Sev-2', title: 'slow' });
    apply(p, state, { type: 'incident', at: 2_000, id: 'i2', severity: 'Sev-2', title: 'errors' });
    expect(state.status).toBe('holding');
    return state;
  };
  const command = (state: ReturnType<typeof held>, command: 'resume' | 'promote' | 'rollback', role: string, by: string) => {
    const before = state.opsLog.length;
    apply(p, state, { type: 'operator', at: 3_000, id: `op-${command}-${role}`, command, by, role, reason: 'x' });
    return state.opsLog.slice(before).map((e) => `${e.action}: ${e.reason}`).join(' | ');
  };

  it.each<[string, 'resume' | 'promote' | 'rollback', string, string, RegExp]>([
    ['an operator of another role cannot resume it', 'resume', 'sre', 'sre@example.com', /^refuse: .*the hold .* is decided by ceo; resume needs that role, or roll back/],
    ['an operator of another role cannot promote out of it', 'promote', 'sre', 'sre@example.com', /^refuse: .*is decided by ceo; promote needs that role/],
    ['the decider can resume it', 'resume', 'ceo', 'ceo@example.com', /^resume: /],
    ['an operator of another role can still roll back', 'rollback', 'sre', 'sre@example.com', /^rollback: ROLLBACK/],
  ])('%s', (_name, cmd, role, by, expected) => {
    expect(command(held(), cmd, role, by)).toMatch(expected);
  });

  it('(rollouts started before the rule let any operator resume)', () => {
    expect(command(held(false), 'resume', 'sre', 'sre@example.com')).toMatch(/^resume: /);
  });
});

describe('an approval that nothing is waiting for is refused with the reason', () => {
  const p = plan(`
roles:
  cfo: { members: [cfo@example.com] }
  ceo: { members: [ceo@example.com] }
phases:
  - { name: canary-10, percent: 10, minDuration: 10m }
  - { name: canary-50, percent: 50, minDuration: 10m, approvals: [{ role: cfo }] }
  - { name: full, percent: 100, minDuration: 10m, approvals: [{ role: ceo }] }
`);
  const inFirstPhase = (trustV2 = true) => {
    const state = { ...initialState(0), trustV2 };
    apply(p, state, { type: 'start', at: 0 });
    apply(p, state, { type: 'providers-checked', at: 0, offline: [] });
    return state;
  };
  const approve = (state: ReturnType<typeof inFirstPhase>, role: string, subject?: string) => {
    const before = state.opsLog.length;
    apply(p, state, { type: 'approval', at: 1_000, id: `a-${role}-${subject}`, role, by: `${role}@example.com`, decision: 'approve', subject, verified: false });
    return state.opsLog.slice(before).map((e) => `${e.action}: ${e.reason}`).join(' | ');
  };

  it.each<[string, string, string | undefined, RegExp]>([
    ['an approval to enter the next phase is taken', 'cfo', 'phase:canary-50', /^approve: cfo cfo@example.com approved phase canary-50/],
    ['an approval for a phase after the next is refused, naming the phase that comes first', 'ceo', 'phase:full', /^refuse: .*nothing waits for this approval yet: phase full comes after canary-50/],
    ['an approval without a subject for a later phase is refused the same way', 'ceo', undefined, /^refuse: .*nothing waits for this approval yet: phase full comes after canary-50/],
  ])('%s', (_name, role, subject, expected) => {
    expect(approve(inFirstPhase(), role, subject)).toMatch(expected);
  });

  it('(rollouts started before the rule took approvals for any later phase)', () => {
    expect(approve(inFirstPhase(false), 'ceo', 'phase:full')).toMatch(/^approve: /);
  });
});

describe('a condition with an interval of its own is judged at that cadence', () => {
  const gate = (extra: string) =>
    plan(`
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01${extra} }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m }
`);
  // Judged at 1m, 6m, 11m … with interval 5m: the bad reading at 6m stands until 11m.
  const errorRate = (_name: string, at: number) => (at === 6 * MINUTE ? 0.05 : 0.002);

  it.each<[string, string, number[]]>([
    ['interval: 5m — the 6m judgment holds until the next one at 11m', ', interval: 5m', [11]],
    ['no interval — judged at every observation (1m), clean again at 7m', '', [10]],
  ])('%s', async (_name, extra, expected) => {
    const run = await driveVirtually(gate(extra), { horizon: 40 * MINUTE, metric: errorRate });
    expect(advances(run.written)).toEqual(expected);
  });
});

describe('failureLimit: a trigger fires on a total of failed measurements, consecutive or not', () => {
  const p = (scope = '') =>
    plan(`
triggers:
  - name: too-many-errors
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05, failureLimit: 3${scope} }
    action: rollback
phases:
  - { name: canary-10, percent: 10, minDuration: 10m }
  - { name: canary-50, percent: 50, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m }
`);
  // Isolated bad readings, never two in a row: at 2m, 5m (canary-10) and 13m (canary-50).
  const scattered = (_name: string, at: number) => ([2, 5, 13].includes(at / MINUTE) ? 0.2 : 0.002);

  it.each<[string, string, string]>([
    ['counted per phase by default: two in canary-10 and one in canary-50 never reach 3', '', 'completed'],
    ['counted over the rollout with failureScope: rollout — the third, at 13m, rolls back', ', failureScope: rollout', 'rolled_back'],
  ])('%s', async (_name, scope, outcome) => {
    const run = await driveVirtually(p(scope), { horizon: 60 * MINUTE, metric: scattered });
    expect(run.state.outcome).toBe(outcome);
  });

  it('fires on the third scattered failure within one phase', async () => {
    const run = await driveVirtually(p(), { horizon: 60 * MINUTE, metric: (_n, at) => ([2, 5, 8].includes(at / MINUTE) ? 0.2 : 0.002) });
    expect(run.state.outcome).toBe('rolled_back');
    expect(run.state.opsLog.find((e) => e.action === 'rollback')?.at).toBe(8 * MINUTE);
  });
});
