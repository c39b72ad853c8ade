/**
 * scheduling.ts: the rollout asks to be woken at the earliest moment something could change — an observation due,
 * a minimum or maximum duration ending, the end of day, a task due, a change window opening, an approval to escalate,
 * a hold's deadline, a rollback's verification bound, offline providers to ask again, the end of stabilization or of
 * the success criteria — and not at all when nothing can change by itself.
 */
import type { RolloutState } from '../../../src/domain/types';
import type { Plan } from '../../../src/plan/schema';
import { initialState } from '../../helpers/machine';
import { testPlan } from '../../helpers/test-plan';
import { HOUR, MINUTE, commandsOf, drive, incident, operator, send, started, tick } from './helpers';

const MONDAY_0600_UTC = Date.parse('2026-01-12T06:00:00Z');

const p = (body: string): Plan =>
  testPlan(
    `
roles: { sre: { members: [sre@example.com] }, cfo: { members: [cfo@example.com] } }
controls: { operators: [sre] }
channels: { pager: { type: log } }
${body}`,
    { id: 'scheduling' },
  );

interface Case {
  rule: string;
  plan: Plan;
  /** The rollout up to the moment the wake-up is asked for. */
  run(plan: Plan): RolloutState;
  wakeAt: number | undefined;
}

const cases: Case[] = [
  {
    rule: 'the minimum duration’s end',
    plan: p('phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100 }]'),
    run: (plan) => started(plan),
    wakeAt: 10 * MINUTE,
  },
  {
    rule: 'the next observation, when one is due before anything else',
    plan: p(`
analysis: { interval: 1m }
gates: [{ name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }]
phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100 }]`),
    run: (plan) => started(plan),
    wakeAt: MINUTE,
  },
  {
    rule: 'the maximum duration’s end, once the minimum is over and the phase still waits',
    plan: p(`
checks: [{ name: DONE, when: { kind: value, name: DONE, equals: 1 } }]
phases: [{ name: canary, percent: 10, minDuration: 10m, maxDuration: 30m, until: [DONE] }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, tick(10 * MINUTE));
      return state;
    },
    wakeAt: 30 * MINUTE,
  },
  {
    rule: 'the end of day, when it comes before the minimum’s end',
    plan: p(`phases: [{ name: half, percent: 50, minDuration: 6h, calendar: { endOfDay: "18:00" } }, { name: full, percent: 100 }]`),
    run: (plan) => started(plan, Date.parse('2026-01-14T14:00:00Z')),
    wakeAt: Date.parse('2026-01-14T18:00:00Z'),
  },
  {
    rule: 'the next run of an `every` task',
    plan: p(`phases: [{ name: canary, percent: 10, minDuration: 1h, tasks: [{ name: check, on: every, every: 15m, run: { type: command, command: ./c.sh } }] }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, tick(15 * MINUTE));
      return state;
    },
    wakeAt: 30 * MINUTE,
  },
  {
    rule: 'the next run of a daily task, in the phase’s time zone',
    plan: p(`phases: [{ name: canary, percent: 10, minDuration: 5d, calendar: { timezone: America/New_York }, tasks: [{ name: health, on: daily, at: '09:00', run: { type: command, command: ./h.sh } }] }, { name: full, percent: 100 }]`),
    run: (plan) => started(plan, MONDAY_0600_UTC),
    wakeAt: Date.parse('2026-01-12T14:00:00Z'),
  },
  {
    rule: 'the next change window’s opening, while the rollout waits for it',
    plan: p(`
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, calendar: { timezone: Europe/Berlin, allowedWindows: [{ from: '09:00', to: '17:00' }] } }`),
    run: (plan) => {
      const state = started(plan, MONDAY_0600_UTC);
      send(plan, state, tick(MONDAY_0600_UTC + HOUR));
      return state;
    },
    wakeAt: Date.parse('2026-01-12T08:00:00Z'),
  },
  {
    rule: 'the escalation of an approval asked for',
    plan: p(`phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100, approvals: [{ role: cfo, escalate: { after: 30m, to: [pager] } }] }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, tick(10 * MINUTE));
      return state;
    },
    wakeAt: 40 * MINUTE,
  },
  {
    rule: 'a hold’s deadline',
    plan: p(`
triggers: [{ name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold, hold: { timeout: 15m, default: rollback } }]
phases: [{ name: canary, percent: 10, minDuration: 1h }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, incident(5 * MINUTE, 'Sev-1'));
      return state;
    },
    wakeAt: 20 * MINUTE,
  },
  {
    rule: 'the earliest of several: a minimum ending before a hold’s deadline',
    plan: p(`
triggers: [{ name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold, hold: { timeout: 15m, default: rollback } }]
phases: [{ name: canary, percent: 10, minDuration: 1h }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, incident(50 * MINUTE, 'Sev-1'));
      return state;
    },
    wakeAt: 60 * MINUTE,
  },
  ...(['15m', '1h'] as const).map(
    (timeout): Case => ({
      rule: `the earliest of several: ${timeout === '15m' ? 'a hold’s deadline (26m) before an escalation (40m)' : 'an escalation (40m) before a hold’s deadline (71m)'}`,
      plan: p(`
triggers: [{ name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold, hold: { timeout: ${timeout}, default: rollback } }]
phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100, approvals: [{ role: cfo, escalate: { after: 30m, to: [pager] } }] }]`),
      run: (plan) => {
        const state = started(plan);
        send(plan, state, tick(10 * MINUTE));
        send(plan, state, incident(11 * MINUTE, 'Sev-1'));
        return state;
      },
      wakeAt: timeout === '15m' ? 26 * MINUTE : 40 * MINUTE,
    }),
  ),
  {
    rule: 'a rollback’s verification bound, when it ends before the next observation',
    plan: p(`
analysis: { interval: 10m }
rollback: { verify: { within: 5m, checks: [{ name: calm, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }] } }
phases: [{ name: canary, percent: 10, minDuration: 1h }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = started(plan, 0, { values: { error_rate: 0.5 } });
      send(plan, state, operator(MINUTE, 'rollback', 'sre@example.com', 'sre', 'errors'), { error_rate: 0.5 });
      return state;
    },
    wakeAt: 6 * MINUTE,
  },
  {
    rule: 'the next providers check, one interval on, while a provider is offline',
    plan: p(`analysis: { interval: 2m }\nphases: [{ name: canary, percent: 10 }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = initialState(0);
      send(plan, state, { type: 'start', at: 0 });
      send(plan, state, { type: 'providers-checked', at: 0, offline: ['flag provider flagd: EACCES'] });
      return state;
    },
    wakeAt: 2 * MINUTE,
  },
  {
    rule: 'the end of stabilization',
    plan: p(`
phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100, minDuration: 10m }]
afterFull: { stabilization: { duration: 1h } }`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, tick(10 * MINUTE));
      send(plan, state, tick(20 * MINUTE));
      return state;
    },
    wakeAt: 80 * MINUTE,
  },
  {
    rule: 'the end of the success criteria’s period',
    plan: p(`
phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100, minDuration: 10m }]
afterFull: { successCriteria: { over: 2h, checks: [{ name: docs, when: { kind: attestation, check: docs } }] } }`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, tick(10 * MINUTE));
      send(plan, state, tick(20 * MINUTE));
      return state;
    },
    wakeAt: 140 * MINUTE,
  },
  {
    rule: 'none while the rollout waits only for a person (an approval nobody escalates)',
    plan: p(`phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100, approvals: [{ role: cfo }] }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, tick(10 * MINUTE));
      return state;
    },
    wakeAt: undefined,
  },
  {
    rule: 'none once the rollout finished',
    plan: p(`phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, operator(MINUTE, 'kill', 'sre@example.com', 'sre', 'stop'));
      return state;
    },
    wakeAt: undefined,
  },
  {
    rule: 'one interval on after the rollout finished while a flag write still fails, to retry it',
    plan: p(`phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100 }]`),
    run: (plan) => {
      const state = started(plan);
      send(plan, state, operator(MINUTE, 'kill', 'sre@example.com', 'sre', 'stop'));
      send(plan, state, { type: 'flag-write-failed', at: MINUTE, flags: ['checkout-v2'], percent: 0, enabled: false, reason: 'kill', detail: '503' });
      return state;
    },
    wakeAt: MINUTE + 30_000,
  },
];

describe('the wake-up is', () => {
  it.each(cases.map((c) => [c.rule, c] as const))('%s', (_rule, c) => {
    expect(c.run(c.plan).wakeAt).toBe(c.wakeAt);
  });
});

describe('the wake command', () => {
  const plan = p('phases: [{ name: canary, percent: 10, minDuration: 10m }, { name: full, percent: 100, minDuration: 1h }]');

  it('is emitted when the wake-up changes, and not again while it stays the same', () => {
    const state = initialState(0);
    send(plan, state, { type: 'start', at: 0 });
    const entering = send(plan, state, { type: 'providers-checked', at: 0, offline: [] });
    expect(commandsOf(entering.commands, 'wake')).toEqual([{ type: 'wake', at: 10 * MINUTE }]);
    const unchanged = send(plan, state, { type: 'alert', at: MINUTE, id: 'a', alert: 'x', status: 'resolved' });
    expect(commandsOf(unchanged.commands, 'wake')).toEqual([]);
    const advanced = send(plan, state, tick(10 * MINUTE));
    expect(commandsOf(advanced.commands, 'wake')).toEqual([{ type: 'wake', at: 70 * MINUTE }]);
  });

  it('is never in the past or now: a minimum already over is no candidate', () => {
    const state = started(plan);
    send(plan, state, operator(MINUTE, 'pause', 'sre@example.com', 'sre'));
    send(plan, state, tick(10 * MINUTE));
    expect(state.wakeAt).toBeUndefined();
  });
});

describe('woken at each wake-up, a rollout reaches each moment something changes and no other', () => {
  it('is woken exactly at the minimum’s end, the window’s opening and the last phase’s end', async () => {
    const plan = p(`
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1h, calendar: { timezone: Europe/Berlin, allowedWindows: [{ from: '09:00', to: '17:00' }] } }`);
    const run = await drive(plan, { start: MONDAY_0600_UTC, horizon: HOUR * 6 });
    expect(run.state.outcome).toBe('completed');
    // 07:00 UTC the minimum ends outside the window; 08:00 UTC (09:00 Berlin) it opens; 09:00 UTC full's minimum ends.
    expect(run.ticks).toEqual([HOUR, 2 * HOUR, 3 * HOUR]);
    expect(run.written.map((w) => [w.at, w.percent])).toEqual([[0, 10], [2 * HOUR, 100]]);
  });

  // Fixed by rules v3; before (scheduling.ts wakes for stabilization's daily tasks and its end, not for its `every` tasks): with nothing
  // else waking the rollout (no metric condition in force), an hourly stabilization task runs only when
  // stabilization ends — once instead of every hour.
  it('wakes for a stabilization task every hour', async () => {
    const plan = p(`
phases: [{ name: canary, percent: 10, minDuration: 1h }, { name: full, percent: 100, minDuration: 1h }]
afterFull:
  stabilization:
    duration: 5h
    tasks: [{ name: hourly, on: every, every: 1h, run: { type: command, command: ./snapshot.sh } }]`);
    const run = await drive(plan, { horizon: 10 * HOUR });
    expect(run.tasks.filter((t) => t.task === 'hourly').length).toBeGreaterThanOrEqual(4);
  });
});
