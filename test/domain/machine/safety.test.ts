/**
 * safety.ts: every way toward safety — a hold (soft stop, decided by someone or by its timeout's default), reverting a
 * phase, a rollback (with its verification) and a kill — and finishing the rollout.
 */
import type { RolloutState } from '../../../src/domain/types';
import type { Plan } from '../../../src/plan/schema';
import { testPlan } from '../../helpers/test-plan';
import { MINUTE, commandsOf, flagWrites, incident, operator, send, started, tick } from './helpers';

const SRE = ['sre@example.com', 'sre'] as const;

/** Three phases, the middle one changing a configuration key; a Sev-1 incident fires `trigger`. */
const planWith = (trigger: string, extra = ''): Plan =>
  testPlan(
    `
analysis: { interval: 1m }
roles: { sre: { members: [sre@example.com] }, ceo: { members: [ceo@example.com] } }
controls: { operators: [sre] }
triggers:
  - { name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 } }, ${trigger} }
${extra}
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: half, percent: 50, minDuration: 10m, configChanges: [{ key: stripe.mode, from: TEST, to: LIVE }] }
  - { name: full, percent: 100, minDuration: 10m }
`,
    { id: 'safety' },
  );

/** In `half` (entered at 10m), then a Sev-1 at 11m; the readings asked for meanwhile read `values`. */
const inHalfAfterIncident = (p: Plan, values: Record<string, number> = {}): RolloutState => {
  const state = started(p, 0, { values });
  send(p, state, tick(10 * MINUTE), values);
  expect(state.phaseIndex).toBe(1);
  send(p, state, incident(11 * MINUTE, 'Sev-1'), values);
  return state;
};

describe('a hold', () => {
  it('without a decider or timeout stays until an operator resumes, however long', () => {
    const p = planWith('action: hold');
    const state = inHalfAfterIncident(p);
    for (const at of [30, 60, 24 * 60]) send(p, state, tick(at * MINUTE));
    expect(state).toMatchObject({ status: 'holding', phaseIndex: 1, percent: 50 });
    expect(state.waits).toEqual([{ kind: 'hold', cause: 'sev1', reason: 'trigger sev1 fired: incidents Sev-1: 1 (Sev-1 reached 1)', since: 11 * MINUTE, default: 'stay' }]);
    expect(state.wakeAt).toBeUndefined();
    send(p, state, operator(25 * 60 * MINUTE, 'resume', ...SRE));
    expect(state.status).toBe('running');
    expect(state.phaseIndex).toBe(2);
  });

  it('keeps traffic where it is', () => {
    const p = planWith('action: hold');
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    const { commands } = send(p, state, incident(11 * MINUTE, 'Sev-1'));
    expect(flagWrites(commands)).toEqual([]);
    expect(state.percent).toBe(50);
  });

  it('does not stack: a second cause while held leaves the first hold as it was', () => {
    const two = testPlan(`
triggers:
  - { name: first, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold }
  - { name: second, when: { kind: incidents, atLeast: { Sev-2: 1 } }, action: hold, hold: { timeout: 1m, default: rollback } }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`);
    const state = started(two);
    send(two, state, incident(MINUTE, 'Sev-1'));
    const { lines } = send(two, state, incident(2 * MINUTE, 'Sev-2'));
    expect(lines.filter((l) => l.startsWith('hold:'))).toEqual([]);
    expect(state.hold).toMatchObject({ cause: 'first', since: MINUTE });
    expect(state.hold?.deadline).toBeUndefined();
  });

  describe('not decided within its timeout takes its default, exactly at the deadline', () => {
    it.each<[string, string, Partial<RolloutState>, string[]]>([
      ['rollback: traffic off, rolled back', 'rollback', { outcome: 'rolled_back', percent: 0 }, ['checkout-v2 → off']],
      ['kill: every flag off, killed', 'kill', { outcome: 'killed', percent: 0 }, ['checkout-v2 → off']],
      ['revert-phase: back to the previous phase, paused there', 'revert-phase', { status: 'paused', phaseIndex: 0, percent: 10 }, ['checkout-v2 → 10%']],
      ['resume: the rollout goes on (half’s minimum is over: into full)', 'resume', { status: 'running', phaseIndex: 2, hold: undefined }, ['checkout-v2 → 100%']],
      ['stay: held on, with no deadline any more', 'stay', { status: 'holding', phaseIndex: 1 }, []],
    ])('%s', (_rule, fallback, expected, writes) => {
      const p = planWith(`action: hold, hold: { decidedBy: [ceo], timeout: 15m, default: ${fallback} }`);
      const state = inHalfAfterIncident(p);
      expect(state.hold?.deadline).toBe(26 * MINUTE);
      expect(send(p, state, tick(20 * MINUTE)).lines).toEqual([]);
      expect(state.wakeAt).toBe(26 * MINUTE);
      expect(send(p, state, tick(26 * MINUTE - 1)).lines).toEqual([]);
      const { commands, lines } = send(p, state, tick(26 * MINUTE));
      expect(state).toMatchObject(expected);
      expect(flagWrites(commands)).toEqual(writes);
      if (fallback === 'stay') expect(state.hold?.deadline).toBeUndefined();
      else expect(lines.join('\n')).toContain('hold on sev1 unresolved for 15m');
    });
  });

  // Fixed by rules v3; before (safety.ts `hold` sets the status over a pause, and `resume` clears the pause too): an operator pauses the
  // rollout to investigate; a hold whose timeout defaults to `resume` then fires and, at its deadline, lifts the
  // operator's pause as well — the rollout advances although the operator never resumed it.
  it('timing out to resume does not lift a pause an operator gave before it', () => {
    const p = planWith('action: hold, hold: { timeout: 5m, default: resume }');
    const state = started(p);
    send(p, state, operator(MINUTE, 'pause', ...SRE, 'investigating'));
    send(p, state, incident(2 * MINUTE, 'Sev-1'));
    send(p, state, tick(7 * MINUTE));
    send(p, state, tick(10 * MINUTE));
    expect(state.status).toBe('paused');
    expect(state.phaseIndex).toBe(0);
  });
});

describe('reverting a phase', () => {
  it('undoes only the current phase’s changes, goes back one phase and stays paused there until resumed', () => {
    const p = planWith('action: revert-phase');
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    const { commands, lines } = send(p, state, incident(11 * MINUTE, 'Sev-1'));
    expect(commands.filter((c) => c.type === 'set-flags' || c.type === 'set-config').map((c) => (c.type === 'set-config' ? `${c.key}=${String(c.value)}` : flagWrites([c])[0]))).toEqual([
      'checkout-v2 → 10%',
      'stripe.mode=TEST',
    ]);
    expect(lines).toContain('revert-phase: reverted from half to canary at 10% and paused until resumed: trigger sev1 fired: incidents Sev-1: 1 (Sev-1 reached 1)');
    expect(state).toMatchObject({ phaseIndex: 0, percent: 10, status: 'paused', stage: 'ramp', phaseEnteredAt: 11 * MINUTE, pause: { by: 'system' } });
    expect(state.compensations.map((c) => c.phase)).toEqual(['canary']);
    // Paused: the minimum of canary, counted from the revert, ends at 21m, and nothing moves.
    send(p, state, tick(30 * MINUTE));
    expect(state.phaseIndex).toBe(0);
  });

  it('from the first phase rolls back: there is no previous phase to go to', () => {
    const p = planWith('action: revert-phase');
    const state = started(p);
    const { lines } = send(p, state, incident(MINUTE, 'Sev-1'));
    expect(lines).toContainEqual(expect.stringMatching(/^rollback: ROLLBACK: trigger sev1 fired: .* \(no previous phase to revert to\); flags to 0%$/));
    expect(state.outcome).toBe('rolled_back');
  });

  it('and resuming enters the phase again with its gates and triggers starting afresh', () => {
    const p = testPlan(`
roles: { sre: { members: [sre@example.com] } }
controls: { operators: [sre] }
phases:
  - { name: canary, percent: 10 }
  - name: half
    percent: 50
    minDuration: 10m
    gates: [{ name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }]
    triggers: [{ name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 }, within: 5m }, action: revert-phase }]
  - { name: full, percent: 100 }
`);
    const state = started(p);
    send(p, state, { type: 'observation', at: MINUTE, metrics: { error_rate: { status: 'ok', value: 0.001 } } });
    expect(state.tracks['gate:half:errors-ok']?.satisfied).toBe(true);
    send(p, state, incident(2 * MINUTE, 'Sev-1'));
    expect(state.phaseIndex).toBe(0);
    send(p, state, operator(20 * MINUTE, 'resume', ...SRE));
    expect(state).toMatchObject({ phaseIndex: 1, phaseEnteredAt: 20 * MINUTE });
    expect(state.tracks['gate:half:errors-ok']).toBeUndefined();
    expect(state.tracks['trigger:half:sev1']).toBeUndefined();
  });
});

describe('a rollback', () => {
  const p = planWith('action: rollback', 'rollback: { tasks: [{ name: deploy-rollback, run: { type: command, command: ./rollback.sh } }] }');

  it('takes traffic straight to 0% in one write, then reverts the configuration, then runs its tasks', () => {
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    send(p, state, tick(20 * MINUTE));
    expect(state.phaseIndex).toBe(2);
    const { commands } = send(p, state, incident(21 * MINUTE, 'Sev-1'));
    expect(commands.filter((c) => ['set-flags', 'set-config', 'run-task'].includes(c.type)).map((c) => c.type)).toEqual(['set-flags', 'set-config', 'run-task']);
    expect(flagWrites(commands)).toEqual(['checkout-v2 → off']);
    expect(commandsOf(commands, 'set-config')).toEqual([expect.objectContaining({ key: 'stripe.mode', value: 'TEST' })]);
    expect(commandsOf(commands, 'run-task')).toEqual([{ type: 'run-task', task: 'deploy-rollback', scope: 'rollback' }]);
    expect(state).toMatchObject({ outcome: 'rolled_back', status: 'rolled_back', percent: 0, compensations: [], stage: 'done' });
  });

  it('with target previous-percent undoes only the current phase and ends at the previous phase’s traffic', () => {
    const previous = planWith('action: rollback', 'rollback: { target: previous-percent }');
    const state = inHalfAfterIncident(previous);
    expect(state).toMatchObject({ outcome: 'rolled_back', percent: 10 });
    expect(state.opsLog.find((e) => e.action === 'rollback')?.reason).toMatch(/; flags to 10%, configuration reverted$/);
  });

  describe('with verification', () => {
    const verified = planWith(
      'action: rollback',
      'rollback: { verify: { within: 5m, checks: [{ name: calm, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }] } }',
    );

    it.each<[string, number, number, boolean | undefined, string]>([
      ['is verified by the first reading that meets every check', 13 * MINUTE, 0.001, true, 'rolled_back'],
      ['is verified by a good reading taken exactly at the end of its bound', 16 * MINUTE, 0.001, true, 'rolled_back'],
      ['is unverified once its bound ends without a good reading', 16 * MINUTE, 0.05, false, 'rolled_back'],
      ['is still rolling back before its bound ends', 15 * MINUTE, 0.05, undefined, 'rolling-back'],
    ])('%s', (_rule, at, errorRate, isVerified, status) => {
      const state = inHalfAfterIncident(verified, { error_rate: 0.05 });
      expect(state.status).toBe('rolling-back');
      expect(state.wakeAt).toBeLessThanOrEqual(16 * MINUTE);
      send(verified, state, tick(12 * MINUTE), { error_rate: 0.05 });
      send(verified, state, tick(at), { error_rate: errorRate });
      expect(state.rollback?.verified).toBe(isVerified);
      expect(state.status).toBe(status);
    });

    it('observes only what verifies it', () => {
      const state = inHalfAfterIncident(verified, { error_rate: 0.05 });
      const { commands } = send(verified, state, tick(12 * MINUTE));
      expect(commandsOf(commands, 'observe')).toEqual([{ type: 'observe', metrics: ['error_rate'], flags: [] }]);
    });

    it('a kill while rolling back finishes the rollout as killed', () => {
      const state = inHalfAfterIncident(verified, { error_rate: 0.05 });
      send(verified, state, operator(12 * MINUTE, 'kill', ...SRE, 'faster'));
      expect(state.outcome).toBe('killed');
    });
  });
});

describe('a kill', () => {
  const p = testPlan(`
roles: { sre: { members: [sre@example.com] } }
controls: { operators: [sre], cohortFlag: "cohort.{name}.on", killSwitch: { flag: system.canary } }
rollback: { tasks: [{ name: deploy-rollback, run: { type: command, command: ./rollback.sh } }] }
phases:
  - { name: canary, percent: 10, minDuration: 10m, cohorts: [{ name: internal }] }
  - { name: half, percent: 50, minDuration: 10m, cohorts: [{ name: beta, percent: 20 }], configChanges: [{ key: stripe.mode, from: TEST, to: LIVE }] }
  - { name: full, percent: 100, minDuration: 10m }
`);

  it('turns the target and every cohort flag off in one write, then the kill switch, then reverts the configuration', () => {
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    const { commands, lines } = send(p, state, operator(11 * MINUTE, 'kill', ...SRE, 'data loss'));
    expect(commands.filter((c) => c.type === 'set-flags' || c.type === 'set-config').map((c) => (c.type === 'set-config' ? `${c.key}=${String(c.value)}` : flagWrites([c])[0]))).toEqual([
      'checkout-v2,cohort.internal.on,cohort.beta.on → off',
      'system.canary → off',
      'stripe.mode=TEST',
    ]);
    expect(lines).toContain('kill: KILL: kill switch by sre@example.com (sre): data loss; all flags off');
    expect(state).toMatchObject({ outcome: 'killed', percent: 0, cohortFlags: { 'cohort.internal.on': 0, 'cohort.beta.on': 0 }, compensations: [] });
  });

  it('does not run the rollback’s tasks: it is not a rollback', () => {
    const state = started(p);
    const { commands } = send(p, state, operator(MINUTE, 'kill', ...SRE, 'fire'));
    expect(commandsOf(commands, 'run-task')).toEqual([]);
  });
});

describe('a finished rollout', () => {
  it('holds nothing, waits for nothing and observes nothing more', () => {
    const p = planWith('action: hold', 'gates: [{ name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }]');
    const state = started(p);
    send(p, state, incident(MINUTE, 'Sev-1'));
    send(p, state, operator(2 * MINUTE, 'rollback', ...SRE, 'enough'));
    expect(state).toMatchObject({ hold: undefined, waits: [], waitingFor: [], stage: 'done', nextObservationAt: undefined, wakeAt: undefined });
    expect(commandsOf(send(p, state, tick(3 * MINUTE)).commands, 'observe')).toEqual([]);
  });
});

describe('a hold ending while a pause is in force', () => {
  it('leaves a trigger’s pause in force: only `canary resume` lifts it', () => {
    const p2 = testPlan(`
triggers:
  - { name: t-pause, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: pause }
  - { name: t-hold, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold, hold: { timeout: 5m, default: resume } }
phases:
  - { name: a, percent: 10, minDuration: 10m }
  - { name: b, percent: 100 }
`);
    const state = started(p2);
    send(p2, state, incident(MINUTE, 'Sev-1'));
    expect(state.status).toBe('holding');
    send(p2, state, tick(6 * MINUTE));
    send(p2, state, tick(20 * MINUTE));
    expect(state.status).toBe('paused');
    expect(state.phaseIndex).toBe(0);
  });
});
