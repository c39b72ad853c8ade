/**
 * progression.ts: whether the current phase may be left (minimum duration or end of day, `until` checks, gates, exit
 * approvals, required and exit tasks, maximum duration), what entering the next one needs (providers,
 * preconditions, tokens, entry checks, approvals and their escalation, budgets, change windows), and entering it.
 */
import type { Plan } from '../../../src/plan/schema';
import { initialState } from '../../helpers/machine';
import { testPlan } from '../../helpers/test-plan';
import { DAY, HOUR, MINUTE, approve, commandsOf, drive, id, report, send, started, tick } from './helpers';

/** When (ms from the start) each target-flag write to `percent` went through. */
const writesOf = (written: Array<{ at: number; flags: string[]; percent: number }>, percent: number) => written.filter((w) => w.flags.includes('checkout-v2') && w.percent === percent).map((w) => w.at);

describe('the start', () => {
  const p = testPlan(`
checks:
  - { name: suite, when: { kind: command, run: npm test } }
preconditions: [suite]
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`);

  it('checks the providers, observes baselines and runs the preconditions before any traffic moves', () => {
    const state = initialState(0);
    const { commands, lines } = send(p, state, { type: 'start', at: 0 });
    expect(state.status).toBe('waiting');
    expect(lines[0]).toBe('start: rollout of checkout-v2 in prod started: 2 phases, 10% → 100%');
    expect(commands.map((c) => c.type)).toEqual(expect.arrayContaining(['check-providers', 'observe', 'run-check']));
    expect(commandsOf(commands, 'set-flags')).toEqual([]);
  });
});

describe('entering the first phase needs', () => {
  const p = testPlan(`
roles: { ceo: { members: [ceo@example.com] }, cfo: { members: [cfo@example.com] } }
checks:
  - { name: READY, when: { kind: value, name: READY, equals: 1 } }
  - { name: EVIDENCE, when: { kind: value, name: EVIDENCE, equals: 1 } }
preconditions: [READY]
tokens:
  - { id: GO, role: ceo, requires: [EVIDENCE] }
phases:
  - name: canary
    percent: 10
    minDuration: 10m
    entry: [{ name: WARM, when: { kind: value, name: WARM, equals: 1 } }]
    approvals: [{ role: cfo }]
  - { name: full, percent: 100 }
`);
  const messages = {
    READY: report(1, 'READY', 1),
    EVIDENCE: report(1, 'EVIDENCE', 1),
    WARM: report(1, 'WARM', 1),
    GO: { type: 'consume-token', at: 2, id: 'go', token: 'GO', by: 'ceo@example.com', role: 'ceo' } as const,
    cfo: approve(3, 'cfo', 'cfo@example.com'),
  };

  it.each<[string, Array<keyof typeof messages>, string[]]>([
    ['its preconditions, its token, its entry checks and its approvals — all of them', [], ['precondition', 'token', 'entry', 'approval']],
    ['…the token once its conditions hold and it is consumed', ['EVIDENCE', 'GO'], ['precondition', 'entry', 'approval']],
    ['…the approval', ['EVIDENCE', 'GO', 'READY', 'WARM'], ['approval']],
    ['…and nothing else: with everything given the rollout enters it (and waits for its minimum there)', ['EVIDENCE', 'GO', 'READY', 'WARM', 'cfo'], ['minimum']],
  ])('%s', (_rule, given, waits) => {
    const state = started(p);
    for (const m of given) send(p, state, messages[m]);
    const entered = waits[0] === 'minimum';
    expect((state.waits ?? []).map((w) => w.kind)).toEqual(waits);
    expect({ status: state.status, percent: state.percent }).toEqual(entered ? { status: 'running', percent: 10 } : { status: 'waiting', percent: 0 });
  });

  it('its providers to have answered, and to be online', () => {
    const bare = testPlan('phases: [{ name: canary, percent: 10 }, { name: full, percent: 100, minDuration: 1h }]');
    const state = initialState(0);
    send(bare, state, { type: 'start', at: 0 });
    expect(state.waits).toEqual([{ kind: 'providers', checked: false, offline: [] }]);
    send(bare, state, { type: 'providers-checked', at: 0, offline: ['metrics source sim: down'] });
    expect(state.waits).toEqual([{ kind: 'providers', checked: true, offline: ['metrics source sim: down'] }]);
    send(bare, state, { type: 'providers-checked', at: MINUTE, offline: [] });
    expect(state.percent).toBe(100);
  });
});

describe('a token before a later phase', () => {
  const p = testPlan(`
roles: { ceo: { members: [ceo@example.com] } }
checks: [{ name: EVIDENCE, when: { kind: value, name: EVIDENCE, equals: 1 } }]
tokens: [{ id: GO, role: ceo, before: full, requires: [EVIDENCE] }]
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`);

  it('lets the earlier phases run, and holds the rollout before its phase until it is consumed', () => {
    const state = started(p);
    expect(state.percent).toBe(10);
    send(p, state, tick(10 * MINUTE));
    expect(state).toMatchObject({ phaseIndex: 0, status: 'waiting' });
    expect(state.waits).toEqual([{ kind: 'token', id: 'GO', role: 'ceo', phase: 'full', blockedBy: [{ check: 'EVIDENCE', detail: 'EVIDENCE is not reported yet (needs 1)' }] }]);
    send(p, state, report(11 * MINUTE, 'EVIDENCE', 1));
    const { lines } = send(p, state, { type: 'consume-token', at: 12 * MINUTE, id: 'go', token: 'GO', by: 'ceo@example.com', role: 'ceo' });
    expect(lines).toContainEqual(expect.stringMatching(/^advance: advanced to full at 100% \(from 10%\): .*token GO consumed by ceo@example.com \(ceo\) with EVIDENCE holding/));
  });
});

describe('leaving a phase', () => {
  const twoPhases = (phase: string, extra = ''): Plan =>
    testPlan(
      `
analysis: { interval: 1m }
roles: { sre: { members: [sre@example.com] }, qa: { members: [qa@example.com] } }
${extra}
phases:
  - ${phase}
  - { name: full, percent: 100, minDuration: 1h }
`,
      { id: 'leaving' },
    );

  it('happens at the instant a minimum duration ends on an evaluation, on that evaluation’s good reading', async () => {
    const p = twoPhases('{ name: canary, percent: 10, minDuration: 10m }', 'gates: [{ name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }]');
    const run = await drive(p, { horizon: HOUR, metric: () => 0.001 });
    expect(writesOf(run.written, 100)).toEqual([10 * MINUTE]);
  });

  it('of a phase without a minimum happens at once: phases without a wait are passed through', () => {
    const p = testPlan(`
phases:
  - { name: a, percent: 1 }
  - { name: b, percent: 5 }
  - { name: c, percent: 100, minDuration: 1h }
`);
    const state = started(p);
    expect(state).toMatchObject({ phaseIndex: 2, percent: 100 });
    expect(state.opsLog.filter((e) => e.action === 'enter-phase' || e.action === 'advance').map((e) => e.reason.split(':')[0])).toEqual([
      'entered a at 1% (from 0%)',
      'advanced to b at 5% (from 1%)',
      'advanced to c at 100% (from 5%)',
    ]);
  });

  it('waits for `until` checks past the minimum, and then goes', () => {
    const p = twoPhases('{ name: canary, percent: 10, minDuration: 10m, until: [DONE] }', 'checks: [{ name: DONE, when: { kind: value, name: DONE, equals: 1 } }]');
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    expect(state.waits).toEqual([{ kind: 'until', phase: 'canary', check: 'DONE', detail: 'DONE is not reported yet (needs 1)' }]);
    send(p, state, report(40 * MINUTE, 'DONE', 1));
    expect(state.phaseIndex).toBe(1);
  });

  it('waits for an exit approval, which names the approver in the rationale', () => {
    const p = twoPhases('{ name: canary, percent: 10, minDuration: 10m, approvals: [{ role: sre, at: exit }] }');
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    expect(state.waits).toEqual([{ kind: 'approval', role: 'sre', have: 0, need: 1, phase: 'canary', at: 'exit' }]);
    const { lines } = send(p, state, approve(11 * MINUTE, 'sre', 'sre@example.com'));
    expect(lines.at(-1)).toMatch(/^advance: advanced to full .*canary exit approved by sre: sre@example.com$/);
  });

  it('waits for a required task to succeed, and a failed run keeps it waiting', () => {
    const p = twoPhases('{ name: canary, percent: 10, minDuration: 10m, tasks: [{ name: smoke, run: { type: manual, role: qa }, required: true }] }');
    const state = started(p);
    send(p, state, { type: 'task-result', at: 5 * MINUTE, task: 'smoke', scope: 'canary', ok: false, detail: 'checkout broken' });
    send(p, state, tick(10 * MINUTE));
    expect(state.waits).toEqual([{ kind: 'task', phase: 'canary', name: 'smoke' }]);
    send(p, state, { type: 'task-result', at: 12 * MINUTE, task: 'smoke', scope: 'canary', ok: true, by: 'qa@example.com' });
    expect(state.phaseIndex).toBe(1);
  });

  it('starts exit tasks only once everything else allows leaving; a required one must then succeed', async () => {
    const p = twoPhases(`
    name: canary
    percent: 10
    minDuration: 10m
    tasks:
      - { name: record-go, on: exit, run: { type: command, command: ./record.sh }, required: true }`);
    const failing = await drive(p, { horizon: HOUR, task: () => ({ ok: false, detail: 'exit 1' }) });
    expect(failing.tasks).toEqual([{ at: 10 * MINUTE, scope: 'canary', task: 'record-go' }]);
    expect(failing.state.waits).toEqual([{ kind: 'task', phase: 'canary', name: 'record-go' }]);
    const passing = await drive(p, { horizon: HOUR });
    expect(writesOf(passing.written, 100)).toEqual([10 * MINUTE]);
  });

  it('past its maximum duration, still waiting, holds once and names what it waits for', () => {
    const p = twoPhases('{ name: canary, percent: 10, minDuration: 10m, maxDuration: 30m, until: [DONE] }', 'checks: [{ name: DONE, when: { kind: value, name: DONE, equals: 1 } }]');
    const state = started(p);
    send(p, state, tick(10 * MINUTE));
    const { lines } = send(p, state, tick(30 * MINUTE));
    expect(lines).toEqual(['hold: HOLD: phase canary reached its maximum duration 30m still waiting for: until DONE: DONE is not reported yet (needs 1)']);
    expect(state.hold).toMatchObject({ cause: 'max-duration', default: 'stay' });
  });

  it('says in the advance what was checked', async () => {
    const p = twoPhases('{ name: canary, percent: 10, minDuration: 10m }', 'gates: [{ name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }]');
    const run = await drive(p, { horizon: HOUR, metric: () => 0.004 });
    expect(run.log).toContain('10m advance: advanced to full at 100% (from 10%): 10m minimum in canary elapsed; gates: errors-ok ok (error_rate = 0.004 ratio (condition < 0.01))');
  });
});

describe('"≥ 6 hours (or end of day)": a phase with an end of day may end there before its minimum', () => {
  const p = (timezone: string) =>
    testPlan(
      `
phases:
  - { name: half, percent: 50, minDuration: 6h, calendar: { timezone: ${timezone}, endOfDay: "18:00" } }
  - { name: full, percent: 100, minDuration: 1h }
`,
      { id: `eod-${timezone.replace('/', '-')}` },
    );

  it.each<[string, string, string, string]>([
    ['entered 14:00, it ends at 18:00 that day', 'UTC', '2026-01-14T14:00:00Z', '2026-01-14T18:00:00Z'],
    ['entered 10:00, its minimum ends first, at 16:00', 'UTC', '2026-01-14T10:00:00Z', '2026-01-14T16:00:00Z'],
    ['entered 17:59, it ends a minute later', 'UTC', '2026-01-14T17:59:00Z', '2026-01-14T18:00:00Z'],
    ['entered at 18:00 exactly, the end of day is tomorrow’s: the minimum ends first', 'UTC', '2026-01-14T18:00:00Z', '2026-01-15T00:00:00Z'],
    ['entered 19:00, its minimum ends first, at 01:00 the next day', 'UTC', '2026-01-14T19:00:00Z', '2026-01-15T01:00:00Z'],
    ['in New York, it ends at 18:00 New York time (23:00 UTC in winter)', 'America/New_York', '2026-01-14T20:00:00Z', '2026-01-14T23:00:00Z'],
  ])('%s', async (_rule, timezone, enteredAt, advancedAt) => {
    const start = Date.parse(enteredAt);
    const run = await drive(p(timezone), { start, horizon: DAY });
    expect(writesOf(run.written, 100).map((at) => new Date(start + at).toISOString())).toEqual([new Date(advancedAt).toISOString()]);
  });
});

describe('change windows: the next phase is entered only inside its allowed windows', () => {
  const p = (windows: string, timezone = 'Europe/Berlin') =>
    testPlan(
      `
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1h, calendar: { timezone: ${timezone}, allowedWindows: [${windows}] } }
`,
      { id: 'windows' },
    );
  const WORKDAYS = "{ days: [mon, tue, wed, thu, fri], from: '09:00', to: '17:00' }";

  it.each<[string, string, string, string]>([
    ['a minimum ending before the window opens waits for the opening, in the window’s time zone (09:00 Berlin = 08:00 UTC)', WORKDAYS, '2026-01-12T06:00:00Z', '2026-01-12T08:00:00Z'],
    ['a minimum ending inside the window advances at once', WORKDAYS, '2026-01-12T10:00:00Z', '2026-01-12T11:00:00Z'],
    ['a minimum ending a minute before the window closes advances at once', WORKDAYS, '2026-01-16T14:59:00Z', '2026-01-16T15:59:00Z'],
    ['a minimum ending exactly as the window closes waits, over the weekend, for Monday’s opening', WORKDAYS, '2026-01-16T15:00:00Z', '2026-01-19T08:00:00Z'],
    ['a window that wraps midnight is open after midnight', "{ from: '22:00', to: '06:00' }", '2026-01-13T03:00:00Z', '2026-01-13T04:00:00Z'],
    ['a window that wraps midnight is waited for during the day', "{ from: '22:00', to: '06:00' }", '2026-01-13T09:00:00Z', '2026-01-13T21:00:00Z'],
  ])('%s', async (_rule, windows, startAt, enteredAt) => {
    const start = Date.parse(startAt);
    const run = await drive(p(windows), { start, horizon: 7 * DAY });
    expect(writesOf(run.written, 100).map((at) => new Date(start + at).toISOString())).toEqual([new Date(enteredAt).toISOString()]);
  });

  it('records the wait for the window with its next opening', () => {
    const start = Date.parse('2026-01-16T15:00:00Z');
    const plan = p(WORKDAYS);
    const state = started(plan, start);
    send(plan, state, tick(start + HOUR));
    expect(state.waits).toEqual([{ kind: 'window', phase: 'full', opensAt: Date.parse('2026-01-19T08:00:00Z') }]);
    expect(state.wakeAt).toBe(Date.parse('2026-01-19T08:00:00Z'));
  });
});

describe('approvals to enter a phase', () => {
  const p = (approval: string) =>
    testPlan(
      `
roles: { cfo: { members: [cfo@example.com] }, execs: { members: [exec@example.com] } }
channels: { pager: { type: log }, releases: { type: log } }
notifications: [{ on: [approval-needed], channels: [releases] }]
phases:
  - { name: canary, percent: 10, minDuration: 2h }
  - { name: full, percent: 100, minDuration: 1h, approvals: [${approval}] }
`,
      { id: 'approvals' },
    );

  it.each<[string, number, number | undefined]>([
    ['count while younger than expiresAfter', 90 * MINUTE, 2 * HOUR],
    ['count when exactly as old as expiresAfter', HOUR, 2 * HOUR],
    ['no longer count once older than expiresAfter', 59 * MINUTE, undefined],
  ])('%s', (_rule, approvedAt, enteredAt) => {
    const plan = p('{ role: cfo, expiresAfter: 1h }');
    const state = started(plan);
    send(plan, state, approve(approvedAt, 'cfo', 'cfo@example.com'));
    send(plan, state, tick(2 * HOUR));
    expect(state.phaseIndex === 1 ? state.phaseEnteredAt : undefined).toBe(enteredAt);
    if (enteredAt === undefined) expect(state.waits).toEqual([expect.objectContaining({ kind: 'approval', role: 'cfo', have: 0, need: 1 })]);
  });

  it('are asked for once — a notification and an ops-log line — not on every wake-up', () => {
    const plan = p('{ role: cfo, reason: "Stripe goes LIVE" }');
    const state = started(plan);
    const asked = [2 * HOUR, 3 * HOUR, 4 * HOUR].map((at) => send(plan, state, tick(at)));
    expect(asked.map((s) => commandsOf(s.commands, 'notify').length)).toEqual([1, 0, 0]);
    expect(commandsOf(asked[0]?.commands ?? [], 'notify')[0]?.message).toMatch(/^Approval needed: cfo to enter full — Stripe goes LIVE\. Evidence: .*Approve with: canary approve <rollout-id> --role cfo\b/);
    expect(asked.map((s) => s.lines)).toEqual([['wait: waiting for cfo approval to enter full'], [], []]);
  });

  it('escalate once, exactly when overdue, to the channels named (roles have no channel to tell)', () => {
    const plan = p('{ role: cfo, escalate: { after: 30m, to: [pager, execs] } }');
    const state = started(plan);
    send(plan, state, tick(2 * HOUR));
    expect(state.wakeAt).toBe(2 * HOUR + 30 * MINUTE);
    expect(send(plan, state, tick(2 * HOUR + 29 * MINUTE)).lines).toEqual([]);
    const overdue = send(plan, state, tick(2 * HOUR + 30 * MINUTE));
    expect(overdue.lines).toEqual(['escalate: cfo approval to enter full pending for 30m: escalated to pager, execs']);
    expect(commandsOf(overdue.commands, 'notify')).toEqual([expect.objectContaining({ event: 'escalation', channels: ['pager'], message: 'Approval by cfo to enter full is overdue' })]);
    expect(send(plan, state, tick(4 * HOUR)).lines).toEqual([]);
  });

  // Fixed by rules v3; before (progression.ts `phaseDone` records an exit approval's wait but never calls `requestApproval`): an approval
  // with `at: exit` is never asked for (no approval-needed notification, no ops-log line) and its `escalate` is
  // accepted by the plan and then ignored — nobody is told when it is overdue, and no wake-up is scheduled for it.
  it('to leave a phase escalate like those to enter one', () => {
    const plan = testPlan(`
roles: { sre: { members: [sre@example.com] } }
channels: { pager: { type: log } }
phases:
  - { name: canary, percent: 10, minDuration: 10m, approvals: [{ role: sre, at: exit, escalate: { after: 30m, to: [pager] } }] }
  - { name: full, percent: 100 }
`);
    const state = started(plan);
    send(plan, state, tick(10 * MINUTE));
    const overdue = send(plan, state, tick(40 * MINUTE));
    expect(overdue.lines).toContainEqual(expect.stringMatching(/^escalate: /));
  });
});

describe('entering a phase', () => {
  const p = testPlan(`
analysis: { interval: 1m }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - name: full
    percent: 100
    minDuration: 10m
    configChanges: [{ key: stripe.mode, from: TEST, to: LIVE }]
    tasks: [{ name: warm-cache, run: { type: http, url: "http://localhost:3000/warm" } }]
`);

  it('applies its configuration and records how to undo it, sets the flags and starts its enter tasks', () => {
    const state = started(p, 0, { values: { error_rate: 0.001 } });
    const { commands } = send(p, state, tick(10 * MINUTE), { error_rate: 0.001 });
    expect(commands.filter((c) => ['set-config', 'set-flags', 'run-task'].includes(c.type))).toEqual([
      { type: 'set-config', key: 'stripe.mode', value: 'LIVE', reason: 'entering full' },
      { type: 'set-flags', flags: ['checkout-v2'], percent: 100, enabled: true, reason: 'entering full' },
      { type: 'run-task', task: 'warm-cache', scope: 'full' },
    ]);
    expect(state.compensations).toEqual([
      { kind: 'flags', phase: 'canary', percent: 0 },
      { kind: 'config', phase: 'full', key: 'stripe.mode', value: 'TEST' },
      { kind: 'flags', phase: 'full', percent: 10 },
    ]);
  });

  it('of the last phase moves the rollout to its final stage, and completes it after the phase’s own wait', async () => {
    const run = await drive(p, { horizon: HOUR, metric: () => 0.001 });
    expect(run.state).toMatchObject({ outcome: 'completed', stage: 'done', percent: 100 });
    expect(run.log.at(-1)).toBe('20m complete: rollout complete at 100%');
  });

  it('of a permanent last phase completes the rollout, saying so', async () => {
    const permanent = testPlan(`
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, minDuration: 10m, permanent: true }
`);
    const run = await drive(permanent, { horizon: HOUR });
    expect(run.log.at(-1)).toBe('20m complete: reached 100% in full; the phase is permanent');
  });
});

describe('a budget over its line in a phase it covers', () => {
  const p = (spend = '') =>
    testPlan(
      `
analysis: { interval: 1m }
roles: { cfo: { members: [cfo@example.com] } }
budgets:
  - { name: canary, phases: [canary], limit: 300, cosign: { role: cfo, above: 250 }${spend} }
phases:
  - { name: canary, percent: 10, minDuration: 30m }
  - { name: full, percent: 100, minDuration: 10m }
`,
      { id: 'budget', metrics: { cost: 'USD' } },
    );
  const spend = (at: number, total: number) => ({ type: 'spend', at, id: id('spend'), budget: 'canary', total }) as const;

  it.each<[string, number, boolean]>([
    ['at its co-sign line, does not hold', 250, false],
    ['above its co-sign line, holds until the co-signer decides', 251, true],
  ])('%s', (_rule, total, holds) => {
    const plan = p();
    const state = started(plan);
    send(plan, state, spend(MINUTE, total));
    expect(state.status).toBe(holds ? 'holding' : 'running');
    if (holds) expect(state.hold).toMatchObject({ cause: 'budget:canary', decidedBy: ['cfo'], reason: 'budget canary spend USD 251 is above 250: needs a cfo co-sign' });
  });

  it('holds once: after the co-sign the rollout goes on, whatever is spent next', () => {
    const plan = p();
    const state = started(plan);
    send(plan, state, spend(MINUTE, 260));
    send(plan, state, approve(2 * MINUTE, 'cfo', 'cfo@example.com', { subject: 'budget:canary' }));
    send(plan, state, spend(3 * MINUTE, 400));
    expect(state.status).toBe('running');
  });

  // Fixed by rules v3; before (progression.ts `budgetHolds`: `state.spend[b.name] ?? state.latest[metric]` and then writes state.spend):
  // a budget whose spend is read from a metric reads it once — the value when the phase is first checked, usually 0 —
  // and never again, since state.spend is set from then on. Spend read from the metric never holds the rollout.
  it('read from a metric, holds once the metric crosses the co-sign line', async () => {
    const run = await drive(p(', spend: { metric: cost }'), { horizon: HOUR, metric: (_m, at) => (at >= 10 * MINUTE ? 400 : 0) });
    expect(run.state.status).toBe('holding');
    expect(run.state.hold?.cause).toBe('budget:canary');
  });
});
