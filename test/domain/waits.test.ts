/**
 * Waits are data: the machine records what a rollout waits for as typed waits, and one renderer turns them into the
 * sentences of `waitingFor` and the ops log. Each kind of wait has a case here (a plan, what happens, the waits the
 * state then holds); a second table pins the renderer to the sentences readers have always seen.
 */
import { feed, type Effects } from '../../src/domain/driver';
import { apply, compiled, initialState, isSettled, statusOf } from '../helpers/machine';
import type { RolloutEvent, RolloutState } from '../../src/domain/types';
import { describeWait, pendingApprovalRoles, pendingTokens, WAIT_KINDS, type Wait } from '../../src/domain/waits';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';

const MINUTE = 60_000;

const BASE = `
apiVersion: canary/v1
id: t
name: Waits
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  cfo: { members: [cfo@example.com], signatureRequired: false }
  ceo: { members: [ceo@example.com] }
  sre: { members: [sre@example.com] }
controls: { operators: [sre] }
`;

function plan(extra: string): Plan {
  const loaded = parsePlanText(BASE + extra, 'waits.yaml');
  if (!loaded.ok) throw new Error(loaded.issues.map((i) => `${i.line} ${i.path}: ${i.message}`).join('\n'));
  return loaded.plan;
}

/** What the rollout's world answers: metrics read `metric`, providers in `offline` do not answer, writes of `failPercent` fail. */
interface World {
  metric?: number;
  offline?: string[];
  failPercent?: number;
}

/** A rollout on a virtual clock from 0: `send` feeds an event and everything it leads to; `until` runs its timers. */
function rollout(p: Plan, world: World = {}) {
  const state = initialState(0);
  const effects: Effects = {
    setFlags: async (c) => (c.percent === world.failPercent ? { ok: false, detail: 'store unavailable' } : undefined),
    setConfig: async () => undefined,
    observe: async (c) => ({ metrics: Object.fromEntries(c.metrics.map((m) => [m, { status: 'ok' as const, value: world.metric ?? 0 }])) }),
    checkProviders: async () => ({ offline: world.offline ?? [] }),
    runTask: async () => ({ ok: true }),
    runCheck: async () => ({ ok: true }),
    notify: async () => undefined,
  };
  return {
    state,
    send: (event: RolloutEvent) => feed(compiled(p), state, event, effects),
    async until(at: number) {
      while (!isSettled(state) && state.wakeAt !== undefined && state.wakeAt <= at) await feed(compiled(p), state, { type: 'tick', at: state.wakeAt }, effects);
    },
  };
}

const start = { type: 'start', at: 0 } as const;
const report = (at: number, name: string, value: number): RolloutEvent => ({ type: 'report-value', at, id: `r-${name}-${at}`, name, value, by: 'ops@example.com' });

const TWO_PHASES = `
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`;

interface Case {
  name: string;
  plan: string;
  world?: World;
  run(r: ReturnType<typeof rollout>, p: Plan): Promise<void> | void;
  waits: Wait[];
}

const cases: Case[] = [
  {
    name: 'before the provider check answers: the providers, being checked',
    plan: TWO_PHASES,
    run: (r, p) => void apply(p, r.state, start),
    waits: [{ kind: 'providers', checked: false, offline: [] }],
  },
  {
    name: 'a provider that does not answer: the providers, with the offline ones named',
    plan: TWO_PHASES,
    world: { offline: ['metrics source sim (scenario): connection refused'] },
    run: (r) => r.send(start),
    waits: [{ kind: 'providers', checked: true, offline: ['metrics source sim (scenario): connection refused'] }],
  },
  {
    name: 'a precondition that does not hold: the check and why',
    plan: `
checks:
  - { name: READY, when: { kind: value, name: READY, equals: 1 } }
preconditions: [READY]
${TWO_PHASES}`,
    run: async (r) => {
      await r.send(start);
      await r.send(report(1, 'READY', 0));
    },
    waits: [{ kind: 'precondition', check: 'READY', detail: 'READY is 0 (needs 1)' }],
  },
  {
    name: 'a token whose conditions fail: a HOLD blocked by each failing check',
    plan: `
checks:
  - { name: EVIDENCE, when: { kind: value, name: EVIDENCE, equals: 1 } }
tokens:
  - { id: HITL-1, role: ceo, requires: [EVIDENCE] }
${TWO_PHASES}`,
    run: async (r) => {
      await r.send(start);
      await r.send(report(1, 'EVIDENCE', 0));
    },
    waits: [{ kind: 'token', id: 'HITL-1', role: 'ceo', phase: 'canary', blockedBy: [{ check: 'EVIDENCE', detail: 'EVIDENCE is 0 (needs 1)' }] }],
  },
  {
    name: 'a token whose conditions hold: blocked by nothing, waiting for its role',
    plan: `
checks:
  - { name: EVIDENCE, when: { kind: value, name: EVIDENCE, equals: 1 } }
tokens:
  - { id: HITL-1, role: ceo, requires: [EVIDENCE] }
${TWO_PHASES}`,
    run: async (r) => {
      await r.send(start);
      await r.send(report(1, 'EVIDENCE', 1));
    },
    waits: [{ kind: 'token', id: 'HITL-1', role: 'ceo', phase: 'canary', blockedBy: [] }],
  },
  {
    name: "the phase's minimum duration: when it ends and how long is left",
    plan: TWO_PHASES,
    run: async (r) => {
      await r.send(start);
      await r.send({ type: 'tick', at: 4 * MINUTE });
    },
    waits: [{ kind: 'minimum', phase: 'canary', duration: '10m', endsAt: 10 * MINUTE, left: 6 * MINUTE }],
  },
  {
    name: 'a minimum duration that may also end at the end of the day: names that time',
    plan: `
phases:
  - { name: canary, percent: 10, minDuration: 6h, calendar: { endOfDay: "17:00" } }
  - { name: full, percent: 100 }
`,
    run: (r) => r.send(start),
    waits: [{ kind: 'minimum', phase: 'canary', duration: '6h', endsAt: 360 * MINUTE, left: 360 * MINUTE, endOfDay: '17:00' }],
  },
  {
    name: 'a gate that is not met: its name and current value against the threshold',
    plan: `
analysis: { interval: 1m }
gates:
  - { name: errors, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary, percent: 10 }
  - { name: full, percent: 100 }
`,
    world: { metric: 0.05 },
    run: async (r) => {
      await r.send(start);
      await r.until(3 * MINUTE);
    },
    waits: [{ kind: 'gate', phase: 'canary', name: 'errors', detail: 'error_rate = 0.05 ratio (condition < 0.01)' }],
  },
  {
    name: 'an until check that does not hold yet',
    plan: `
checks:
  - { name: DONE, when: { kind: value, name: DONE, equals: 1 } }
phases:
  - { name: canary, percent: 10, until: [DONE] }
  - { name: full, percent: 100 }
`,
    run: async (r) => {
      await r.send(start);
      await r.send(report(1, 'DONE', 0));
    },
    waits: [{ kind: 'until', phase: 'canary', check: 'DONE', detail: 'DONE is 0 (needs 1)' }],
  },
  {
    name: 'an approval to enter the next phase: the role, how many it has and needs',
    plan: `
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, approvals: [{ role: cfo }] }
`,
    run: async (r) => {
      await r.send(start);
      await r.until(10 * MINUTE);
    },
    waits: [{ kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'full', at: 'enter' }],
  },
  {
    name: 'a rejected approval: who rejected it and why',
    plan: `
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, approvals: [{ role: cfo }] }
`,
    run: async (r) => {
      await r.send(start);
      await r.until(10 * MINUTE);
      await r.send({ type: 'approval', at: 11 * MINUTE, id: 'a1', role: 'cfo', by: 'cfo@example.com', decision: 'reject', reason: 'numbers are off' });
    },
    waits: [{ kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'full', at: 'enter', rejected: { by: 'cfo@example.com', reason: 'numbers are off' } }],
  },
  {
    name: 'an approval to leave the phase',
    plan: `
phases:
  - { name: canary, percent: 10, approvals: [{ role: sre, at: exit }] }
  - { name: full, percent: 100 }
`,
    run: (r) => r.send(start),
    waits: [{ kind: 'approval', role: 'sre', have: 0, need: 1, phase: 'canary', at: 'exit' }],
  },
  {
    name: 'a required task that has not succeeded',
    plan: `
phases:
  - name: canary
    percent: 10
    tasks: [{ name: runbook, run: { type: manual }, required: true }]
  - { name: full, percent: 100 }
`,
    run: (r) => r.send(start),
    waits: [{ kind: 'task', phase: 'canary', name: 'runbook' }],
  },
  {
    name: "an entry check of the next phase that does not hold",
    plan: `
phases:
  - { name: canary, percent: 10 }
  - name: full
    percent: 100
    entry: [{ name: WARM, when: { kind: value, name: WARM, equals: 1 } }]
`,
    run: async (r) => {
      await r.send(start);
      await r.send(report(1, 'WARM', 0));
    },
    waits: [{ kind: 'entry', phase: 'full', check: 'WARM', detail: 'WARM is 0 (needs 1)' }],
  },
  {
    name: "the next phase's change window: when it opens",
    plan: `
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, calendar: { allowedWindows: [{ from: "03:00", to: "04:00" }] } }
`,
    run: async (r) => {
      await r.send(start);
      await r.until(10 * MINUTE);
    },
    waits: [{ kind: 'window', phase: 'full', opensAt: 180 * MINUTE }],
  },
  {
    name: 'a flag write that failed: the write, its failures and since when',
    plan: TWO_PHASES,
    world: { failPercent: 10 },
    run: (r) => r.send(start),
    waits: [{ kind: 'flag-write', flags: ['checkout-v2'], percent: 10, enabled: true, failures: 1, since: 0 }],
  },
  {
    name: 'paused: by whom, why and since when',
    plan: TWO_PHASES,
    run: async (r) => {
      await r.send(start);
      await r.send({ type: 'operator', at: 2 * MINUTE, id: 'o1', command: 'pause', by: 'sre@example.com', role: 'sre', reason: 'looking at a dashboard' });
    },
    waits: [{ kind: 'paused', by: 'sre@example.com', reason: 'looking at a dashboard', since: 2 * MINUTE }],
  },
  {
    name: 'on hold: who decides, the deadline and what happens then',
    plan: `
triggers:
  - name: sev2
    when: { kind: incidents, atLeast: { sev2: 2 } }
    action: hold
    hold: { decidedBy: [ceo], timeout: 15m, default: rollback }
${TWO_PHASES}`,
    run: async (r) => {
      await r.send(start);
      await r.send({ type: 'incident', at: 1 * MINUTE, id: 'i1', severity: 'sev2', title: 'slow checkout' });
      await r.send({ type: 'incident', at: 2 * MINUTE, id: 'i2', severity: 'sev2', title: 'card errors' });
    },
    waits: [
      {
        kind: 'hold',
        cause: 'sev2',
        reason: 'trigger sev2 fired: incidents sev2: 2 (sev2 reached 2)',
        since: 2 * MINUTE,
        decidedBy: ['ceo'],
        deadline: 17 * MINUTE,
        default: 'rollback',
      },
    ],
  },
];

describe('the machine records what a rollout waits for as typed waits', () => {
  it.each(cases)('$name', async ({ plan: extra, world, run, waits }) => {
    const p = plan(extra);
    const r = rollout(p, world);
    await run(r, p);
    expect(r.state.waits).toEqual(waits);
    // The words are the waits rendered, nothing else.
    expect(r.state.waitingFor).toEqual(waits.map(describeWait));
  });

  it('has a case for every kind of wait', () => {
    const covered = new Set(cases.flatMap((c) => c.waits.map((w) => w.kind)));
    expect([...WAIT_KINDS].filter((kind) => !covered.has(kind))).toEqual([]);
  });
});

describe('describeWait, the one renderer of waits', () => {
  const rendered: Array<[Wait, string]> = [
    [{ kind: 'minimum', phase: 'canary', duration: '15s', endsAt: 15_000, left: 11_000 }, 'minimum duration 15s (11s left)'],
    [{ kind: 'minimum', phase: 'canary', duration: '6h', endsAt: 0, left: 3_600_000, endOfDay: '17:00' }, 'minimum duration 6h (1h left, or end of day 17:00)'],
    [{ kind: 'until', phase: 'canary', check: 'DONE', detail: 'DONE is 0 (needs 1)' }, 'until DONE: DONE is 0 (needs 1)'],
    [{ kind: 'gate', phase: 'canary', name: 'error-rate', detail: 'error_rate: no data' }, 'gate error-rate: error_rate: no data'],
    [{ kind: 'approval', role: 'release-manager', have: 0, need: 1, phase: 'full', at: 'enter' }, 'approval by release-manager (0 of 1) to enter full'],
    [{ kind: 'approval', role: 'ceo', have: 1, need: 2, phase: 'canary', at: 'exit' }, 'approval by ceo (1 of 2) to leave canary'],
    [{ kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'full', at: 'enter', rejected: { by: 'cfo@example.com', reason: 'numbers are off' } }, 'approval by cfo: rejected by cfo@example.com (numbers are off)'],
    [{ kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'full', at: 'enter', rejected: { by: 'cfo@example.com' } }, 'approval by cfo: rejected by cfo@example.com'],
    [{ kind: 'token', id: 'HITL-1', role: 'ceo', phase: 'canary', blockedBy: [] }, 'token HITL-1 to be consumed by ceo (its conditions hold)'],
    [
      { kind: 'token', id: 'HITL-1', role: 'ceo', phase: 'canary', blockedBy: [{ check: 'A', detail: 'A is 0 (needs 1)' }, { check: 'B', detail: 'B is not reported' }] },
      'token HITL-1 to be consumed by ceo — HOLD: A: A is 0 (needs 1); B: B is not reported',
    ],
    [{ kind: 'entry', phase: 'full', check: 'WARM', detail: 'WARM is 0 (needs 1)' }, 'entry WARM: WARM is 0 (needs 1)'],
    [{ kind: 'precondition', check: 'READY', detail: 'READY is 0 (needs 1)' }, 'precondition READY: READY is 0 (needs 1)'],
    [{ kind: 'task', phase: 'canary', name: 'runbook' }, 'required task runbook'],
    [{ kind: 'window', phase: 'full', opensAt: 0 }, 'the next allowed change window for full'],
    [{ kind: 'providers', checked: false, offline: [] }, "the plan's providers to answer (checking)"],
    [{ kind: 'providers', checked: true, offline: ['a: down', 'b: down'] }, 'providers to answer: a: down; b: down'],
    [{ kind: 'flag-write', flags: ['checkout-v2', 'beta'], percent: 25, enabled: true, failures: 2, since: 0 }, 'flag write checkout-v2, beta → 25% to go through (failed 2×)'],
    [{ kind: 'flag-write', flags: ['checkout-v2'], percent: 0, enabled: false, failures: 1, since: 0 }, 'flag write checkout-v2 → off to go through (failed 1×)'],
    [{ kind: 'paused', by: 'sre@example.com', reason: 'x', since: 0 }, 'resume (canary resume): paused by sre@example.com since 1970-01-01T00:00:00.000Z'],
    [
      { kind: 'hold', cause: 'sev2', reason: 'x', since: 0, decidedBy: ['ceo', 'cfo'], deadline: 60_000, default: 'rollback' },
      'a decision on the hold (sev2) by ceo or cfo: canary resume or canary rollback; otherwise rollback at 1970-01-01T00:01:00.000Z',
    ],
    [{ kind: 'hold', cause: 'max-duration', reason: 'x', since: 0, default: 'stay' }, 'a decision on the hold (max-duration) by an operator: canary resume or canary rollback'],
  ];

  it.each(rendered)('%j reads "%s"', (wait, sentence) => {
    expect(describeWait(wait)).toBe(sentence);
  });
});

describe('readers of waits', () => {
  const waits: Wait[] = [
    { kind: 'approval', role: 'cfo', have: 0, need: 2, phase: 'live', at: 'enter' },
    { kind: 'gate', phase: 'canary', name: 'latency', detail: '600 > 500' },
    { kind: 'approval', role: 'cfo', have: 0, need: 2, phase: 'canary', at: 'exit' },
    { kind: 'approval', role: 'sre', have: 0, need: 1, phase: 'live', at: 'enter', rejected: { by: 'sre@example.com' } },
    { kind: 'hold', cause: 'sev2', reason: 'x', since: 0, decidedBy: ['ceo', 'cfo'], default: 'stay' },
    { kind: 'token', id: 'HITL-1', role: 'ceo', phase: 'live', blockedBy: [{ check: 'A', detail: 'A is 0' }] },
  ];

  it('pending approvals name each role once, waiting approvals first, then the roles that decide a hold, never a rejected one', () => {
    expect(pendingApprovalRoles(waits)).toEqual(['cfo', 'ceo']);
  });

  it('pending tokens name each token with the role that consumes it, also on HOLD', () => {
    expect(pendingTokens(waits)).toEqual([{ token: 'HITL-1', role: 'ceo' }]);
  });
});

describe('the HOLD line of a token that cannot be consumed', () => {
  const tokenPlan = () =>
    plan(`
checks:
  - { name: EVIDENCE, when: { kind: value, name: EVIDENCE, equals: 1 } }
  - { name: SHADOW, when: { kind: value, name: SHADOW, equals: 1 } }
  - { name: READY, when: { kind: value, name: READY, equals: 1 } }
preconditions: [READY]
tokens:
  - { id: HITL-1, role: ceo, requires: [EVIDENCE, SHADOW] }
${TWO_PHASES}`);
  const holdLines = (state: RolloutState) => state.opsLog.filter((e) => e.action === 'hold').map((e) => e.reason);

  it('is logged once per reason, from the token waits', async () => {
    const r = rollout(tokenPlan());
    await r.send(start);
    await r.send(report(1, 'SHADOW', 1));
    await r.send(report(2, 'EVIDENCE', 0));
    await r.send(report(3, 'EVIDENCE', 0));
    await r.send(report(4, 'SHADOW', 0));
    expect(holdLines(r.state)).toEqual([
      'HOLD before canary: token HITL-1 to be consumed by ceo — HOLD: EVIDENCE: EVIDENCE is not reported yet (needs 1); SHADOW: SHADOW is not reported yet (needs 1)',
      'HOLD before canary: token HITL-1 to be consumed by ceo — HOLD: EVIDENCE: EVIDENCE is not reported yet (needs 1)',
      'HOLD before canary: token HITL-1 to be consumed by ceo — HOLD: EVIDENCE: EVIDENCE is 0 (needs 1)',
      'HOLD before canary: token HITL-1 to be consumed by ceo — HOLD: EVIDENCE: EVIDENCE is 0 (needs 1); SHADOW: SHADOW is 0 (needs 1)',
    ]);
  });

  it('reads the same for a state carried over from before waits were data (words, no waits) as for a current one', async () => {
    const before = [report(1, 'EVIDENCE', 0), report(1, 'READY', 0)];
    // The first step after the carry-over changes what it waits for (the precondition now holds), not the HOLD.
    const after = [report(2, 'READY', 1), report(3, 'OTHER', 1), { type: 'tick', at: 4 * MINUTE } as const, report(5, 'SHADOW', 0), report(6, 'SHADOW', 0)];
    const current = rollout(tokenPlan());
    const carried = rollout(tokenPlan());
    for (const event of [start, ...before]) {
      await current.send(event);
      await carried.send(event);
    }
    // What continue-as-new carries from a rollout started on older code: the words, no waits.
    delete carried.state.waits;
    for (const event of after) {
      await current.send(event);
      await carried.send(event);
    }
    expect(carried.state.opsLog).toEqual(current.state.opsLog);
    expect(holdLines(carried.state)).toHaveLength(3);
    expect(carried.state.waits).toEqual(current.state.waits);
  });
});

describe('a state from before waits were data', () => {
  it('is accepted: the next step records the waits its words described', async () => {
    const p = plan(TWO_PHASES);
    const r = rollout(p);
    await r.send(start);
    await r.send({ type: 'tick', at: 4 * MINUTE });
    const words = r.state.waitingFor;
    delete r.state.waits;
    expect(statusOf(p, r.state, 'r').waits).toEqual([]);
    expect(statusOf(p, r.state, 'r').waitingFor).toEqual(words);
    await r.send({ type: 'tick', at: 5 * MINUTE });
    expect(r.state.waits).toEqual([{ kind: 'minimum', phase: 'canary', duration: '10m', endsAt: 10 * MINUTE, left: 5 * MINUTE }]);
  });

  it('waiting for a change window still wakes when the window opens', () => {
    const p = plan(`
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, calendar: { allowedWindows: [{ from: "03:00", to: "04:00" }] } }
`);
    const state = initialState(0);
    apply(p, state, start);
    apply(p, state, { type: 'providers-checked', at: 0, offline: [] });
    apply(p, state, { type: 'tick', at: 10 * MINUTE });
    expect(state.wakeAt).toBe(180 * MINUTE);
    // A reading asked for at this instant is still out: the machine decides nothing on the next event, only schedules.
    const legacy: RolloutState = { ...structuredClone(state), wakeAt: undefined, readingsPending: 1 };
    delete legacy.waits;
    apply(p, legacy, { type: 'incident', at: 11 * MINUTE, id: 'i1', severity: 'sev3', title: 'unrelated' });
    expect(legacy.waits).toBeUndefined();
    expect(legacy.wakeAt).toBe(180 * MINUTE);
  });
});

describe('statusOf, the status view', () => {
  it('carries the waits as data and the same waits in words', async () => {
    const p = plan(`
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100, approvals: [{ role: cfo }] }
`);
    const r = rollout(p);
    await r.send(start);
    await r.until(10 * MINUTE);
    const view = statusOf(p, r.state, 'rollout:checkout-v2:prod');
    expect(view).toMatchObject({
      rolloutId: 'rollout:checkout-v2:prod',
      planId: 't',
      status: 'running',
      phase: 'canary',
      phaseIndex: 0,
      percent: 10,
      minimumEndsAt: 10 * MINUTE,
      waits: [{ kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'full', at: 'enter' }],
      waitingFor: ['approval by cfo (0 of 1) to enter full'],
    });
    expect(pendingApprovalRoles(view.waits)).toEqual(['cfo']);
  });
});
