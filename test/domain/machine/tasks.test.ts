/**
 * tasks.ts: running a task (a snapshot or a notification is done at once, a manual task is assigned, commands and
 * http calls run) and the `every` and `daily` tasks that come due — in the phase's time zone, for as long as
 * `repeatFor` allows.
 */
import type { Plan } from '../../../src/plan/schema';
import { initialState } from '../../helpers/machine';
import { testPlan } from '../../helpers/test-plan';
import { DAY, HOUR, MINUTE, commandsOf, drive, send, started } from './helpers';

/** A plan whose first phase lasts `minDuration` in `timezone` with `tasks`, then a short last phase. */
const phaseWith = (tasks: string, minDuration = '6h', timezone = 'UTC', extra = ''): Plan =>
  testPlan(
    `
analysis: { interval: 1m }
roles: { qa: { members: [qa@example.com] }, sre: { members: [sre@example.com] } }
controls: { operators: [sre] }
channels: { ops: { type: log } }
${extra}
phases:
  - name: canary
    percent: 10
    minDuration: ${minDuration}
    calendar: { timezone: ${timezone} }
    tasks:
${tasks}
  - { name: full, percent: 100, minDuration: 1h }
`,
    { id: 'tasks', metrics: { error_rate: 'ratio', p95: 'ms' } },
  );

/** When each run of `task` started, in ms from the start. */
const runsOf = (tasks: Array<{ at: number; task: string }>, task: string) => tasks.filter((t) => t.task === task).map((t) => t.at);
/** The same as ISO instants, for runs on real dates. */
const isoRunsOf = (start: number, tasks: Array<{ at: number; task: string }>, task: string) => runsOf(tasks, task).map((at) => new Date(start + at).toISOString());

describe('a task started', () => {
  const p = phaseWith(
    `
      - { name: cmd, run: { type: command, command: ./smoke.sh } }
      - { name: hook, run: { type: http, url: "http://localhost:3000/warm" } }
      - { name: snap, run: { type: snapshot, metrics: [p95] } }
      - { name: tell, run: { type: notify, channels: [ops], message: canary at 10% } }
      - { name: hand, description: Walk through checkout, run: { type: manual, role: qa } }`,
    '6h',
    'UTC',
    'gates: [{ name: fast, when: { kind: threshold, metric: p95, op: "<", value: 500 } }]',
  );

  it('as its phase is entered: commands and http calls run, a snapshot and a notification are done at once, a manual task is assigned', () => {
    const state = started(p, 0, { values: { p95: 240 } });
    const entry = state.opsLog.filter((e) => e.action === 'snapshot' || e.action === 'task');
    expect(entry.map((e) => [e.action, e.reason, e.metrics])).toEqual([
      ['snapshot', 'metrics snapshot (snap)', { p95: 240 }],
      ['task', 'task hand assigned to qa: Walk through checkout', undefined],
    ]);
    expect(state.taskRuns).toEqual({ 'canary:cmd': { at: 0 }, 'canary:hook': { at: 0 }, 'canary:snap': { at: 0, ok: true }, 'canary:tell': { at: 0, ok: true }, 'canary:hand': { at: 0 } });
  });

  it('emits the commands to run and to notify', () => {
    const state = initialState(0);
    send(p, state, { type: 'start', at: 0 }, {});
    // The step that enters the first phase.
    const { commands } = send(p, state, { type: 'providers-checked', at: 0, offline: [] }, {});
    expect(commandsOf(commands, 'run-task')).toEqual([
      { type: 'run-task', task: 'cmd', scope: 'canary' },
      { type: 'run-task', task: 'hook', scope: 'canary' },
    ]);
    expect(commandsOf(commands, 'notify')).toContainEqual({ type: 'notify', event: 'stabilization-report', channels: ['ops'], message: 'canary at 10%' });
  });
});

describe('an `every` task', () => {
  it.each<[string, string, string, number[]]>([
    ['first runs one period after the phase was entered, then every period — also the one due as the phase ends', '{ name: check, on: every, every: 30m, run: { type: command, command: ./check.sh } }', '2h', [30, 60, 90, 120]],
    ['stops once repeatFor has passed since the phase began, running the repetition due exactly at its end', '{ name: check, on: every, every: 1h, repeatFor: 3h, run: { type: command, command: ./check.sh } }', '6h', [60, 120, 180]],
  ])('%s', async (_rule, task, minDuration, minutes) => {
    const run = await drive(phaseWith(`      - ${task}`, minDuration), { horizon: DAY });
    expect(runsOf(run.tasks, 'check')).toEqual(minutes.map((m) => m * MINUTE));
  });

  it('does not run while the rollout rolls back', async () => {
    const p = phaseWith(
      '      - { name: check, on: every, every: 10m, run: { type: command, command: ./check.sh } }',
      '6h',
      'UTC',
      `triggers: [{ name: errors, when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }, action: rollback }]
rollback: { verify: { within: 1h, checks: [{ name: calm, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }] } }`,
    );
    const run = await drive(p, { horizon: 2 * HOUR, metric: (_m, at) => (at >= 25 * MINUTE ? 0.2 : 0.001) });
    expect(run.state.outcome).toBe('rolled_back');
    expect(run.state.rollback?.verified).toBe(false);
    expect(runsOf(run.tasks, 'check')).toEqual([10 * MINUTE, 20 * MINUTE]);
  });
});

describe('a daily task', () => {
  const MONDAY_0600_UTC = Date.parse('2026-01-12T06:00:00Z');

  it.each<[string, string, string, string[]]>([
    ['runs at its time of day in the phase’s time zone, every day the phase lasts', 'America/New_York', '', [
      '2026-01-12T14:00:00.000Z',
      '2026-01-13T14:00:00.000Z',
      '2026-01-14T14:00:00.000Z',
      '2026-01-15T14:00:00.000Z',
      '2026-01-16T14:00:00.000Z',
    ]],
    ['in UTC when the phase names no time zone', 'UTC', '', ['2026-01-12T09:00:00.000Z', '2026-01-13T09:00:00.000Z', '2026-01-14T09:00:00.000Z', '2026-01-15T09:00:00.000Z', '2026-01-16T09:00:00.000Z']],
    ['stops once repeatFor has passed since the phase began ("Week 1: daily health checks")', 'America/New_York', ', repeatFor: 2d', ['2026-01-12T14:00:00.000Z', '2026-01-13T14:00:00.000Z']],
  ])('%s', async (_rule, timezone, repeat, expected) => {
    const p = phaseWith(`      - { name: health, on: daily, at: '09:00'${repeat}, run: { type: command, command: ./health.sh } }`, '5d', timezone);
    const run = await drive(p, { start: MONDAY_0600_UTC, horizon: 7 * DAY });
    expect(isoRunsOf(MONDAY_0600_UTC, run.tasks, 'health')).toEqual(expected);
  });

  // Fixed by rules v3; before (calendar.ts `nextDailyAt`, which tasks.ts and scheduling.ts use: it adds the local minutes to the next
  // "HH:MM" as real minutes): on the day clocks change it is an hour off — in Berlin, on the morning the clocks spring
  // forward (29 March 2026), a 09:00 task runs at 10:00 local time (08:00 UTC).
  it('keeps its local time on the day the clocks change', async () => {
    const start = Date.parse('2026-03-27T06:00:00Z');
    const p = phaseWith("      - { name: health, on: daily, at: '09:00', run: { type: command, command: ./health.sh } }", '4d', 'Europe/Berlin');
    const run = await drive(p, { start, horizon: 5 * DAY });
    expect(isoRunsOf(start, run.tasks, 'health')).toEqual(['2026-03-27T08:00:00.000Z', '2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z']);
  });
});

describe('a stabilization task', () => {
  const stabilizing = (tasks: string, timezone = 'UTC', gates = '') =>
    testPlan(
      `
analysis: { interval: 1m }
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1h, calendar: { timezone: ${timezone} } }
afterFull:
  stabilization:
    duration: 3d
    ${gates}
    tasks:
${tasks}
`,
      { id: 'stabilization-tasks', metrics: { p95: 'ms' } },
    );
  const MONDAY_0600_UTC = Date.parse('2026-01-12T06:00:00Z');

  it('on: daily runs at its time each day of stabilization, and not after it', async () => {
    const p = stabilizing("      - { name: review, on: daily, at: '09:00', run: { type: command, command: ./review.sh } }");
    // Stabilization from Mon 08:00 UTC for 3 days.
    const run = await drive(p, { start: MONDAY_0600_UTC, horizon: 5 * DAY });
    expect(isoRunsOf(MONDAY_0600_UTC, run.tasks, 'review')).toEqual(['2026-01-12T09:00:00.000Z', '2026-01-13T09:00:00.000Z', '2026-01-14T09:00:00.000Z']);
  });

  // Fixed by rules v3; before (tasks.ts judges a stabilization daily task due in the last phase's time zone, scheduling.ts wakes the
  // rollout for it in UTC): with the last phase in New York and nothing else waking the rollout, the 09:00 review due
  // at 14:00 UTC is never woken for; it runs at the next UTC 09:00 wake-up instead — 04:00 in New York, a day late.
  it('on: daily runs at its time in the last phase’s time zone', async () => {
    const p = stabilizing("      - { name: review, on: daily, at: '09:00', run: { type: command, command: ./review.sh } }", 'America/New_York');
    const run = await drive(p, { start: MONDAY_0600_UTC, horizon: 5 * DAY });
    expect(isoRunsOf(MONDAY_0600_UTC, run.tasks, 'review')).toEqual(['2026-01-12T14:00:00.000Z', '2026-01-13T14:00:00.000Z', '2026-01-14T14:00:00.000Z']);
  });

  // Fixed by rules v3; before (tasks.ts `runDueTasks`: an `every` task's first run counts from `phaseEnteredAt`, the last phase's entry,
  // not from when stabilization began): with the last phase lasting 1h, an hourly stabilization task first runs at
  // the first evaluation of stabilization — right as it begins — instead of an hour into it.
  it('on: every first runs one period after stabilization began', async () => {
    const p = stabilizing(
      '      - { name: hourly, on: every, every: 1h, run: { type: command, command: ./snapshot.sh } }',
      'UTC',
      'gates: [{ name: fast, when: { kind: threshold, metric: p95, op: "<", value: 500 } }]',
    );
    const run = await drive(p, { horizon: 5 * HOUR });
    // Stabilization began at 2h.
    expect(runsOf(run.tasks, 'hourly')[0]).toBe(3 * HOUR);
  });
});

describe('a snapshot task', () => {
  // Fixed by rules v3; before (compile-plan.ts `observedMetrics` adds a phase's snapshot metrics to what is observed, but scheduling.ts
  // observes only while a condition reading a metric is in force): a snapshot of a metric no condition reads logs
  // nothing — its metrics are never read.
  it('records the metrics it names even when no condition reads them', async () => {
    const p = phaseWith('      - { name: snap, on: every, every: 15m, run: { type: snapshot, metrics: [p95] } }', '1h');
    const run = await drive(p, { horizon: 2 * HOUR, metric: () => 240 });
    expect(run.state.opsLog.filter((e) => e.action === 'snapshot').map((e) => e.metrics)).toEqual([{ p95: 240 }, { p95: 240 }, { p95: 240 }, { p95: 240 }]);
  });
});
