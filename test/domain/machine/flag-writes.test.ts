/**
 * flag-writes.ts: cohort flags and their levels, the compensation a phase records and how it is undone (step by
 * step on a revert, straight to safety on a rollback), and flag writes that fail: retried until they go through,
 * superseded by a later write of the same flag. (test/domain/flag-writes.test.ts drives failing writes end to end.)
 */
import type { Compensation, RolloutEvent, RolloutState } from '../../../src/domain/types';
import { isSettled, straightToSafety } from '../../helpers/machine';
import { testPlan } from '../../helpers/test-plan';
import { MINUTE, commandsOf, flagWrites, incident, operator, send, started, tick } from './helpers';

const SRE = ['sre@example.com', 'sre'] as const;

const cohorts = testPlan(
  `
roles: { sre: { members: [sre@example.com] } }
controls: { operators: [sre], cohortFlag: "cohort.{name}.on" }
triggers:
  - { name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 }, within: 1m }, action: revert-phase }
phases:
  - { name: internal, percent: 1, minDuration: 10m, cohorts: [{ name: staff }] }
  - name: beta
    percent: 10
    minDuration: 10m
    cohorts: [{ name: staff, percent: 100 }, { name: pilots, percent: 10 }, { name: partners, percent: 10 }]
  - { name: full, percent: 100, minDuration: 10m, cohorts: [{ name: staff, percent: 100 }, { name: pilots, percent: 100 }] }
`,
  { id: 'cohorts' },
);

/** The rollout, in internal from the start, after entering beta (10m) and full (20m): the writes of each entry. */
function throughPhases(state: RolloutState = started(cohorts)) {
  const writes = [10, 20].map((m) => flagWrites(send(cohorts, state, tick(m * MINUTE)).commands));
  return { state, writes };
}

describe('cohort flags', () => {
  it('go to their cohort’s share as each phase is entered (the phase’s percent when the cohort names none)', () => {
    const state = started(cohorts);
    expect(state.cohortFlags).toEqual({ 'cohort.staff.on': 1 });
    const { writes } = throughPhases(state);
    expect(writes).toEqual([
      ['checkout-v2 → 10%', 'cohort.staff.on → 100%', 'cohort.pilots.on,cohort.partners.on → 10%'],
      ['checkout-v2 → 100%', 'cohort.pilots.on → 100%'],
    ]);
  });

  it('already at their level are not written again, and a cohort the next phase leaves out keeps its level', () => {
    const { state } = throughPhases();
    expect(state.cohortFlags).toEqual({ 'cohort.staff.on': 100, 'cohort.pilots.on': 100, 'cohort.partners.on': 10 });
  });

  it('are recorded with their previous levels in each phase’s compensation (0: off before the rollout)', () => {
    const { state } = throughPhases();
    expect(state.compensations).toEqual([
      { kind: 'flags', phase: 'internal', percent: 0, cohorts: { 'cohort.staff.on': 0 } },
      { kind: 'flags', phase: 'beta', percent: 1, cohorts: { 'cohort.staff.on': 1, 'cohort.pilots.on': 0, 'cohort.partners.on': 0 } },
      { kind: 'flags', phase: 'full', percent: 10, cohorts: { 'cohort.staff.on': 100, 'cohort.pilots.on': 10 } },
    ]);
  });

  it('go back exactly one phase on a revert: only what the phase changed', () => {
    const { state } = throughPhases();
    const { commands } = send(cohorts, state, incident(21 * MINUTE, 'Sev-1'));
    expect(flagWrites(commands)).toEqual(['checkout-v2 → 10%', 'cohort.pilots.on → 10%']);
    expect(state.cohortFlags).toEqual({ 'cohort.staff.on': 100, 'cohort.pilots.on': 10, 'cohort.partners.on': 10 });
  });

  it.each<[string, boolean | undefined, string[]]>([
    ['go straight to their level before the rollout on a rollback, with the target flags, in one write per level', true, ['checkout-v2 → off', 'cohort.staff.on,cohort.pilots.on,cohort.partners.on → off']],
    ['(a rollout started before direct rollbacks undid them phase by phase)', false, ['checkout-v2 → 10%', 'cohort.pilots.on → 10%', 'checkout-v2 → 1%', 'cohort.staff.on → 1%', 'cohort.pilots.on,cohort.partners.on → off', 'checkout-v2 → off', 'cohort.staff.on → off']],
  ])('%s', (_rule, trustV2, expected) => {
    const { state } = throughPhases(started(cohorts, 0, { initial: { trustV2 } }));
    const { commands } = send(cohorts, state, operator(21 * MINUTE, 'rollback', ...SRE, 'errors'));
    expect(flagWrites(commands)).toEqual(expected);
    expect(Object.values(state.cohortFlags ?? {})).toEqual([0, 0, 0]);
  });
});

describe('straightToSafety collapses a rollback’s compensations (newest first) to their end state', () => {
  const flags = (phase: string, percent: number, cohortLevels?: Record<string, number>): Compensation => ({ kind: 'flags', phase, percent, ...(cohortLevels ? { cohorts: cohortLevels } : {}) });
  const config = (phase: string, key: string, value: string, provider?: string): Compensation => ({ kind: 'config', phase, key, value, ...(provider ? { provider } : {}) });

  it.each<[string, Compensation[], Compensation[]]>([
    ['nothing to undo: nothing to write', [], []],
    ['the target flags go to the level before the rollout touched them, in one write', [flags('c', 30), flags('b', 10), flags('a', 0)], [{ ...flags('a', 0), cohorts: undefined }]],
    ['each cohort flag goes to its oldest recorded level', [flags('c', 30, { x: 5, y: 0 }), flags('b', 10, { x: 0 }), flags('a', 0)], [{ ...flags('a', 0), cohorts: { x: 0, y: 0 } }]],
    ['each configuration key goes to its oldest value, after the flags', [config('c', 'mode', 'B'), flags('c', 10), config('b', 'mode', 'A')], [{ ...flags('c', 10), cohorts: undefined }, config('b', 'mode', 'A')]],
    ['the same key in two providers is two keys', [config('b', 'mode', 'B', 'payments'), config('a', 'mode', 'A')], [config('b', 'mode', 'B', 'payments'), config('a', 'mode', 'A')]],
  ])('%s', (_rule, undo, expected) => {
    expect(straightToSafety(undo)).toEqual(expected);
  });
});

describe('a flag write that failed', () => {
  const p = testPlan(`
roles: { sre: { members: [sre@example.com] } }
channels: { ops: { type: log } }
notifications: [{ on: [flag-write-failed], channels: [ops] }]
controls: { operators: [sre], cohortFlag: "cohort.{name}.on" }
phases:
  - { name: canary, percent: 10, minDuration: 10m, cohorts: [{ name: staff }] }
  - { name: full, percent: 100, minDuration: 10m }
`);
  const failed = (at: number, percent: number, flags = ['checkout-v2'], reason = 'entering full'): RolloutEvent => ({ type: 'flag-write-failed', at, flags, percent, enabled: percent > 0, reason, detail: 'flag service answered 503' });
  const retried = (at: number, percent: number, flags = ['checkout-v2']): RolloutEvent => ({ type: 'flag-write-retried', at, flags, percent, enabled: percent > 0 });
  /** In full, whose 100% write failed at 10m. */
  const pending = (): RolloutState => {
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    send(p, state, failed(10 * MINUTE, 100));
    return state;
  };

  it('is pending, logged and notified once, and keeps the rollout from moving on', () => {
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    const first = send(p, state, failed(10 * MINUTE, 100));
    const again = send(p, state, failed(11 * MINUTE, 100, ['checkout-v2'], 'retry of entering full'));
    expect(first.lines).toEqual(['flag-write-failed: flag write failed (checkout-v2 → 100%, for entering full): flag service answered 503; retried every 30s, and the rollout does not advance until it succeeds']);
    expect(commandsOf(first.commands, 'notify')).toHaveLength(1);
    expect(again.lines).toEqual([]);
    expect(state.pendingFlagWrites).toEqual([{ flags: ['checkout-v2'], percent: 100, enabled: true, reason: 'entering full', since: 10 * MINUTE, failures: 2 }]);
    send(p, state, tick(30 * MINUTE));
    expect(state.waits).toEqual([{ kind: 'flag-write', flags: ['checkout-v2'], percent: 100, enabled: true, failures: 2, since: 10 * MINUTE }]);
    expect(state.outcome).toBeUndefined();
  });

  it('is retried on every wake-up, oldest first', () => {
    const state = pending();
    send(p, state, failed(10 * MINUTE, 0, ['cohort.staff.on'], 'something else'));
    const { commands } = send(p, state, tick(11 * MINUTE));
    expect(flagWrites(commands)).toEqual(['checkout-v2 → 100% (retry)', 'cohort.staff.on → off (retry)']);
  });

  it('that goes through on retry is no longer pending; the phase whose traffic it carries counts from then', () => {
    const state = pending();
    const { lines } = send(p, state, retried(13 * MINUTE, 100));
    expect(state.pendingFlagWrites).toBeUndefined();
    expect(state.phaseEnteredAt).toBe(13 * MINUTE);
    expect(lines).toEqual(['flag-write-retried: flag write checkout-v2 → 100% went through on retry after 1 failure (3m); full counts from now (its minimum duration and gates start again)']);
  });

  it('of a cohort flag alone does not restart the phase when it goes through', () => {
    const state = started(p);
    send(p, state, failed(0, 1, ['cohort.staff.on'], 'entering canary'));
    const { lines } = send(p, state, retried(3 * MINUTE, 1, ['cohort.staff.on']));
    expect(state.phaseEnteredAt).toBe(0);
    expect(lines[0]).toMatch(/went through on retry after 1 failure \(3m\)$/);
  });

  it('is superseded by a later write of the same flag: a kill while it is pending leaves nothing to retry', () => {
    const state = pending();
    send(p, state, operator(12 * MINUTE, 'kill', ...SRE, 'stop'));
    expect(state.pendingFlagWrites).toEqual([]);
    expect(isSettled(state)).toBe(true);
    expect(flagWrites(send(p, state, tick(13 * MINUTE)).commands)).toEqual([]);
  });

  it('while rolling back (traffic may still reach the canary) is urgent, and kept retrying after the rollout finished', () => {
    const state = started(p);
    send(p, state, operator(MINUTE, 'rollback', ...SRE, 'errors'));
    const { commands } = send(p, state, failed(MINUTE, 0, ['checkout-v2'], 'rollback'));
    expect(commandsOf(commands, 'notify')[0]?.message).toMatch(/^URGENT: flag write failed \(checkout-v2 → off, for rollback\): .* — traffic may still reach the canary$/);
    expect(state.outcome).toBe('rolled_back');
    expect(isSettled(state)).toBe(false);
    expect(state.wakeAt).toBe(MINUTE + 30_000);
    expect(flagWrites(send(p, state, tick(MINUTE + 30_000)).commands)).toEqual(['checkout-v2 → off (retry)']);
    send(p, state, retried(MINUTE + 30_000, 0));
    expect(isSettled(state)).toBe(true);
  });

  // Fixed by rules v3; before (flag-writes.ts `flagWriteFailed`, with the supersede rule in index.ts `apply`): a kill decided on the same
  // wake-up that retries a pending write (here a hold whose timeout defaults to kill) supersedes the pending write —
  // but the retry was already sent, and when it fails its failure is taken as a NEW pending write. The finished,
  // killed rollout then retries writing the canary flag to 100% on every wake-up, and turns the canary back on once
  // the flag service accepts it.
  it('retried in the same step as a kill, and failing again, is not retried after the kill', () => {
    const killable = testPlan(`
triggers:
  - { name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold, hold: { timeout: 5m, default: kill } }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m }
`);
    const state = started(killable);
    send(killable, state, tick(10 * MINUTE));
    send(killable, state, failed(10 * MINUTE, 100));
    send(killable, state, incident(11 * MINUTE, 'Sev-1'));
    const deadline = send(killable, state, tick(16 * MINUTE));
    expect(flagWrites(deadline.commands)).toEqual(['checkout-v2 → 100% (retry)', 'checkout-v2 → off']);
    expect(state.outcome).toBe('killed');
    // The retry sent before the kill comes back failed.
    send(killable, state, failed(16 * MINUTE, 100, ['checkout-v2'], 'retry of entering full'));
    expect(flagWrites(send(killable, state, tick(17 * MINUTE)).commands)).toEqual([]);
    expect(state.pendingFlagWrites ?? []).toEqual([]);
  });
});

describe('a failed write while rolling back to the previous phase', () => {
  const previous = testPlan(
    `
roles: { sre: { members: [sre@example.com] } }
controls: { operators: [sre], cohortFlag: "cohort.{name}.on" }
rollback: { target: previous-percent }
phases:
  - { name: beta, percent: 5, minDuration: 10m, cohorts: [{ name: staff, percent: 50 }] }
  - { name: full, percent: 20, minDuration: 10m, cohorts: [{ name: staff, percent: 100 }] }
`,
    { id: 'previous-percent' },
  );

  it('of a cohort flag back to its level, above the target’s percent, is still retried', () => {
    const state = started(previous);
    send(previous, state, tick(10 * MINUTE));
    const { commands } = send(previous, state, operator(11 * MINUTE, 'rollback', ...SRE, 'errors'));
    expect(flagWrites(commands)).toEqual(['checkout-v2 → 5%', 'cohort.staff.on → 50%']);
    send(previous, state, { type: 'flag-write-failed', at: 11 * MINUTE, flags: ['cohort.staff.on'], percent: 50, enabled: true, reason: 'rollback', detail: 'flag service answered 503' });
    expect(state.pendingFlagWrites).toEqual([expect.objectContaining({ flags: ['cohort.staff.on'], percent: 50 })]);
  });
});
