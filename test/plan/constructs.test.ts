/**
 * Every construct of the plan format, each in a small valid plan, with the values it parses to (defaults included).
 */
import { parsePlanText, formatIssue } from '../../src/plan/load';
import type { ConditionDef, Plan } from '../../src/plan/schema';

/** Declarations the bodies below refer to. */
const HEADER = `apiVersion: canary/v1
id: constructs
name: Constructs
target:
  flags: [checkout.v2]
  provider: flagd
  environment: prod
providers:
  metrics:
    prom: { type: prometheus, url: "http://prometheus:9090" }
  flags:
    flagd: { type: flagd-file, path: .canary/flags.json }
metrics:
  p95_latency_ms: { source: prom, query: "p95", unit: ms }
  p99_latency_ms: { source: prom, query: "p99", unit: ms }
  p99_latency_stable_ms: { source: prom, query: "p99 stable", unit: ms }
  error_rate: { source: prom, query: "errors", unit: ratio }
  aurora_events: { source: prom, query: "events" }
  calc_canary: { source: prom, query: "calc canary" }
  calc_stable: { source: prom, query: "calc stable" }
  calc_samples: { source: prom, query: "calc samples" }
  adoption: { source: prom, query: "adoption" }
  spend_usd: { source: prom, query: "spend", unit: USD }
roles:
  po: { members: [po@example.com] }
  cfo: { members: [cfo@example.com, deputy-cfo@example.com] }
  ceo: { members: [ceo@example.com], signatureRequired: true, keys: ["https://keys.example.com/jwks.json"] }
  oncall: { members: [a@example.com, b@example.com] }
channels:
  releases: { type: slack, webhookUrlEnv: SLACK_WEBHOOK_URL, channel: "#releases" }
  pager: { type: pagerduty, routingKeyEnv: PD_ROUTING_KEY, severity: critical }
`;

/** A plan of HEADER plus `body`; fails the test with the plan's issues when it does not parse. */
function parse(body: string): Plan {
  return parseDocumentText(HEADER + body);
}

function parseDocumentText(text: string): Plan {
  const result = parsePlanText(text, 'constructs.yaml');
  if (!result.ok) throw new Error(`expected a valid plan, got:\n${result.issues.map(formatIssue).join('\n')}`);
  return result.plan;
}

const TWO_PHASES = `phases:
  - name: canary
    percent: 10
    minDuration: 6h
  - name: full
    percent: 100
`;

/** The condition of the only shared gate of a plan whose body declares `when` under it. */
function gateCondition(when: string): ConditionDef {
  const plan = parse(`gates:
  - name: g
    when: ${when}
${TWO_PHASES}`);
  const gate = plan.gates[0];
  if (!gate) throw new Error('no gate');
  return gate.when;
}

describe('conditions', () => {
  test('a threshold held for a duration', () => {
    expect(gateCondition('{ kind: threshold, metric: error_rate, op: "<", value: 0.005, for: 6h, source: "seed 002" }')).toEqual({
      kind: 'threshold',
      metric: 'error_rate',
      op: '<',
      value: 0.005,
      for: '6h',
      source: 'seed 002',
    });
  });

  test('a threshold over consecutive windows, checked at its own interval', () => {
    expect(gateCondition('{ kind: threshold, metric: p95_latency_ms, op: "<=", value: 500, window: 5m, consecutiveWindows: 3, interval: 1m }')).toEqual({
      kind: 'threshold',
      metric: 'p95_latency_ms',
      op: '<=',
      value: 500,
      window: '5m',
      consecutiveWindows: 3,
      interval: '1m',
    });
  });

  test('a threshold over a single window', () => {
    expect(gateCondition('{ kind: threshold, metric: p95_latency_ms, op: "!=", value: 0, window: 5m }')).toMatchObject({ window: '5m', op: '!=' });
  });

  test.each([
    ['{ metric: p99_latency_stable_ms }', { metric: 'p99_latency_stable_ms' }],
    ['{ capture: before-rollout }', { capture: 'before-rollout' }],
    ['{ capture: phase-start }', { capture: 'phase-start' }],
    ['{ value: 180 }', { value: 180 }],
  ])('a relative condition against the baseline %s', (baseline, parsed) => {
    expect(gateCondition(`{ kind: relative, metric: p99_latency_ms, op: ">", factor: 5, baseline: ${baseline}, for: 10m }`)).toEqual({
      kind: 'relative',
      metric: 'p99_latency_ms',
      op: '>',
      factor: 5,
      baseline: parsed,
      for: '10m',
    });
  });

  test('an anomaly takes its direction and sample defaults', () => {
    expect(gateCondition('{ kind: anomaly, metric: error_rate, sigma: 3, lookback: 1h }')).toEqual({
      kind: 'anomaly',
      metric: 'error_rate',
      sigma: 3,
      direction: 'above',
      lookback: '1h',
      minSamples: 10,
    });
    expect(gateCondition('{ kind: anomaly, metric: error_rate, sigma: 2.5, direction: either, lookback: 2h, minSamples: 30 }')).toMatchObject({
      direction: 'either',
      minSamples: 30,
    });
  });

  test('freshness: events without gaps longer than a duration', () => {
    expect(gateCondition('{ kind: freshness, metric: aurora_events, maxGap: 10m }')).toEqual({ kind: 'freshness', metric: 'aurora_events', maxGap: '10m' });
  });

  test('absence: no events for longer than a duration', () => {
    expect(gateCondition('{ kind: absence, metric: aurora_events, longerThan: 15m }')).toEqual({ kind: 'absence', metric: 'aurora_events', longerThan: '15m' });
  });

  test('incidents within limits, over a recent window, scoped to the rollout by default', () => {
    expect(gateCondition('{ kind: incidents, atMost: { sev1: 0, sev2: 1 }, within: 48h }')).toEqual({
      kind: 'incidents',
      atMost: { sev1: 0, sev2: 1 },
      within: '48h',
      scope: 'rollout',
    });
    expect(gateCondition('{ kind: incidents, atLeast: { sev1: 1 }, scope: phase }')).toEqual({ kind: 'incidents', atLeast: { sev1: 1 }, scope: 'phase' });
  });

  test('a canary diff with a tolerance and a sample count', () => {
    expect(gateCondition('{ kind: diff, canary: calc_canary, stable: calc_stable, tolerance: 0.005, minSamples: 1000, samplesMetric: calc_samples }')).toEqual({
      kind: 'diff',
      canary: 'calc_canary',
      stable: 'calc_stable',
      tolerance: 0.005,
      minSamples: 1000,
      samplesMetric: 'calc_samples',
    });
  });

  test.each([
    ['{ kind: value, name: SHADOW_PASS_24H, equals: 1 }', { from: 'reported', equals: 1 }],
    ['{ kind: value, name: adoption, from: metric, equals: 0.1 }', { from: 'metric', equals: 0.1 }],
    ['{ kind: value, name: system.canary.enabled, from: flag, equals: true }', { from: 'flag', equals: true }],
    ['{ kind: value, name: stripe.mode, equals: live }', { from: 'reported', equals: 'live' }],
  ])('a value condition %s', (when, parsed) => {
    expect(gateCondition(when)).toMatchObject({ kind: 'value', ...parsed });
  });

  test('an attestation by a role', () => {
    expect(gateCondition('{ kind: attestation, check: docs-complete, role: po, description: "Documentation complete" }')).toEqual({
      kind: 'attestation',
      check: 'docs-complete',
      role: 'po',
      description: 'Documentation complete',
    });
  });

  test('an approval condition with its default quorum', () => {
    expect(gateCondition('{ kind: approval, role: cfo }')).toEqual({ kind: 'approval', role: 'cfo', quorum: 1 });
  });

  test('an HTTP check with its defaults', () => {
    expect(gateCondition('{ kind: http, url: "https://api.example.com/health" }')).toEqual({
      kind: 'http',
      url: 'https://api.example.com/health',
      method: 'GET',
      expectStatus: 200,
      timeout: '10s',
    });
  });

  test('a command check with its defaults', () => {
    expect(gateCondition('{ kind: command, run: "npm run smoke" }')).toEqual({ kind: 'command', run: 'npm run smoke', expectExit: 0, timeout: '5m' });
  });

  test('an alert with labels', () => {
    expect(gateCondition('{ kind: alert, alert: security-incident, labels: { env: prod } }')).toEqual({
      kind: 'alert',
      alert: 'security-incident',
      labels: { env: 'prod' },
    });
  });

  test('a budget condition', () => {
    const plan = parse(`gates:
  - name: spend
    when: { kind: budget, budget: canary-spend }
budgets:
  - { name: canary-spend, phases: [canary], limit: 300 }
${TWO_PHASES}`);
    expect(plan.gates[0]?.when).toEqual({ kind: 'budget', budget: 'canary-spend' });
  });
});

describe('before phase 1', () => {
  const plan = parse(`checks:
  - name: shadow-pass
    when: { kind: value, name: SHADOW_PASS_24H, equals: 1 }
  - name: evidence-bundle
    when: { kind: value, name: EVIDENCE_BUNDLE, equals: 1 }
  - name: ci-green
    description: All CI checks passed
    when: { kind: command, run: "npm test" }
preconditions: [ci-green]
tokens:
  - id: HITL-CEO-20260114-CANARY-V2
    role: ceo
    requires: [shadow-pass, evidence-bundle]
    source: "seed 002: all flags must be 1 to consume the token"
  - id: GA-TOKEN
    role: po
    requires: [ci-green]
    before: full
${TWO_PHASES}`);

  test('named checks serve as preconditions', () => {
    expect(plan.preconditions).toEqual(['ci-green']);
    expect(plan.checks.map((c) => c.name)).toEqual(['shadow-pass', 'evidence-bundle', 'ci-green']);
    expect(plan.checks[2]).toEqual({ name: 'ci-green', description: 'All CI checks passed', when: { kind: 'command', run: 'npm test', expectExit: 0, timeout: '5m' } });
  });

  test('a token is consumed by a role once its checks pass, and holds otherwise', () => {
    expect(plan.tokens).toEqual([
      {
        id: 'HITL-CEO-20260114-CANARY-V2',
        role: 'ceo',
        requires: ['shadow-pass', 'evidence-bundle'],
        onUnmet: 'hold',
        source: 'seed 002: all flags must be 1 to consume the token',
      },
      { id: 'GA-TOKEN', role: 'po', requires: ['ci-green'], before: 'full', onUnmet: 'hold' },
    ]);
  });
});

describe('phases', () => {
  test('decimal percents, cohorts and durations', () => {
    const plan = parse(`phases:
  - name: internal
    percent: 0.5
    minDuration: 1h
    maxDuration: 2h
    cohorts:
      - { name: internal_test, percent: 0.5, segment: "engineering, QA" }
  - name: beta
    percent: 25
    cohorts: [{ name: beta }]
  - name: ga
    percent: 100
    permanent: true
`);
    expect(plan.phases.map((p) => p.percent)).toEqual([0.5, 25, 100]);
    expect(plan.phases[0]).toMatchObject({ minDuration: '1h', maxDuration: '2h', cohorts: [{ name: 'internal_test', percent: 0.5, segment: 'engineering, QA' }], permanent: false });
    expect(plan.phases[1]?.cohorts).toEqual([{ name: 'beta' }]);
    expect(plan.phases[2]?.permanent).toBe(true);
  });

  test('a phase at 0% that lasts until a check passes', () => {
    const plan = parse(`checks:
  - name: wf9-complete
    when: { kind: attestation, check: wf9-complete, role: po }
phases:
  - name: prelaunch
    percent: 0
    until: [wf9-complete]
  - name: canary
    percent: 10
`);
    expect(plan.phases[0]).toMatchObject({ percent: 0, until: ['wf9-complete'] });
  });

  test('a calendar with a time zone, an end of day and allowed windows', () => {
    const plan = parse(`phases:
  - name: half
    percent: 50
    minDuration: 6h
    calendar:
      timezone: Europe/Berlin
      endOfDay: "18:00"
      allowedWindows:
        - { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }
        - { from: "20:00", to: "06:00" }
  - name: full
    percent: 100
    calendar: { endOfDay: "23:30" }
`);
    expect(plan.phases[0]?.calendar).toEqual({
      timezone: 'Europe/Berlin',
      endOfDay: '18:00',
      allowedWindows: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' },
        { from: '20:00', to: '06:00' },
      ],
    });
    expect(plan.phases[1]?.calendar).toEqual({ timezone: 'UTC', endOfDay: '23:30' });
  });

  test('entry criteria, exit gates, and a choice of shared gates', () => {
    const plan = parse(`gates:
  - name: latency
    when: { kind: threshold, metric: p95_latency_ms, op: "<=", value: 500, window: 5m, consecutiveWindows: 3 }
  - name: errors
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, window: 5m }
phases:
  - name: friendly
    percent: 5
    minDuration: 24h
    entry:
      - name: no-sev12
        when: { kind: incidents, atMost: { sev1: 0, sev2: 0 } }
    gates:
      - name: diff
        description: Canary diff tolerance < 0.5%
        when: { kind: diff, canary: calc_canary, stable: calc_stable, tolerance: 0.005, minSamples: 1000 }
    useGates: [errors]
  - name: full
    percent: 100
`);
    const phase = plan.phases[0];
    expect(phase?.entry).toEqual([{ name: 'no-sev12', when: { kind: 'incidents', atMost: { sev1: 0, sev2: 0 }, scope: 'rollout' } }]);
    expect(phase?.gates?.[0]).toMatchObject({ name: 'diff', description: 'Canary diff tolerance < 0.5%', when: { kind: 'diff', tolerance: 0.005 } });
    expect(phase?.useGates).toEqual(['errors']);
    expect(plan.gates.map((g) => g.name)).toEqual(['latency', 'errors']);
  });

  test('approvals with quorum, moment, expiry, escalation and signature', () => {
    const plan = parse(`phases:
  - name: canary
    percent: 25
    approvals:
      - name: cfo-signoff
        role: cfo
        quorum: 2
        expiresAfter: 24h
        escalate: { after: 2h, to: [pager, ceo] }
        reason: Stripe goes LIVE in this phase
        source: "seed 002: CFO sign-off required"
      - role: po
        at: exit
  - name: full
    percent: 100
    approvals:
      - role: ceo
        signatureRequired: true
`);
    expect(plan.phases[0]?.approvals).toEqual([
      {
        name: 'cfo-signoff',
        role: 'cfo',
        quorum: 2,
        at: 'enter',
        expiresAfter: '24h',
        escalate: { after: '2h', to: ['pager', 'ceo'] },
        reason: 'Stripe goes LIVE in this phase',
        source: 'seed 002: CFO sign-off required',
      },
      { role: 'po', quorum: 1, at: 'exit' },
    ]);
    expect(plan.phases[1]?.approvals).toEqual([{ role: 'ceo', quorum: 1, at: 'enter', signatureRequired: true }]);
    expect(plan.roles.ceo).toEqual({ members: ['ceo@example.com'], signatureRequired: true, keys: ['https://keys.example.com/jwks.json'] });
    expect(plan.roles.po?.signatureRequired).toBe(false);
  });

  test('config changes applied on entry and restored on rollback', () => {
    const plan = parse(`phases:
  - name: canary
    percent: 5
    configChanges:
      - { key: stripe.mode, from: off, to: test }
  - name: live
    percent: 25
    configChanges:
      - { key: stripe.mode, from: test, to: live, provider: flagd }
      - { key: payments.limit, from: 0, to: 500 }
      - { key: freeze.lock, from: true, to: false }
`);
    expect(plan.phases[0]?.configChanges).toEqual([{ key: 'stripe.mode', from: 'off', to: 'test' }]);
    expect(plan.phases[1]?.configChanges).toEqual([
      { key: 'stripe.mode', from: 'test', to: 'live', provider: 'flagd' },
      { key: 'payments.limit', from: 0, to: 500 },
      { key: 'freeze.lock', from: true, to: false },
    ]);
  });

  test('tasks of every kind and schedule', () => {
    const plan = parse(`phases:
  - name: canary
    percent: 10
    tasks:
      - name: wf7-flows
        run: { type: command, command: "npm run wf7 -- --abbreviated" }
        required: true
      - name: snapshot
        on: every
        every: 15m
        run: { type: snapshot, metrics: [p95_latency_ms, error_rate] }
      - name: stakeholders
        on: exit
        run: { type: notify, channels: [releases], message: "Phase 1 done" }
      - name: health
        on: daily
        at: "09:00"
        run: { type: http, url: "https://api.example.com/health", method: GET }
      - name: dashboard
        run: { type: manual, role: po }
      - name: hook
        run: { type: http, url: "https://hooks.example.com/canary" }
  - name: full
    percent: 100
`);
    expect(plan.phases[0]?.tasks).toEqual([
      { name: 'wf7-flows', on: 'enter', run: { type: 'command', command: 'npm run wf7 -- --abbreviated', timeout: '10m' }, required: true },
      { name: 'snapshot', on: 'every', every: '15m', run: { type: 'snapshot', metrics: ['p95_latency_ms', 'error_rate'] }, required: false },
      { name: 'stakeholders', on: 'exit', run: { type: 'notify', channels: ['releases'], message: 'Phase 1 done' }, required: false },
      { name: 'health', on: 'daily', at: '09:00', run: { type: 'http', url: 'https://api.example.com/health', method: 'GET' }, required: false },
      { name: 'dashboard', on: 'enter', run: { type: 'manual', role: 'po' }, required: false },
      { name: 'hook', on: 'enter', run: { type: 'http', url: 'https://hooks.example.com/canary', method: 'POST' }, required: false },
    ]);
  });

  test('traffic may decrease when the plan says so', () => {
    const plan = parse(`allowDecreasingPercent: true
phases:
  - { name: half, percent: 50 }
  - { name: back, percent: 25 }
`);
    expect(plan.allowDecreasingPercent).toBe(true);
    expect(plan.phases.map((p) => p.percent)).toEqual([50, 25]);
  });
});

describe('triggers', () => {
  test.each(['rollback', 'revert-phase', 'pause', 'alert', 'kill'] as const)('the action %s', (action) => {
    const plan = parse(`triggers:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.02, for: 5m }
    action: ${action}
    notify: [pager]
    severity: hard
${TWO_PHASES}`);
    expect(plan.triggers).toEqual([
      {
        name: 'errors',
        when: { kind: 'threshold', metric: 'error_rate', op: '>=', value: 0.02, for: '5m' },
        action,
        notify: ['pager'],
        severity: 'hard',
      },
    ]);
  });

  test('a hold decided by roles, with a default when nobody decides', () => {
    const plan = parse(`triggers:
  - name: sev2
    description: 2+ Sev-2 incidents
    when: { kind: incidents, atLeast: { sev2: 2 } }
    action: hold
    hold: { decidedBy: [ceo], timeout: 4h, default: rollback }
    severity: soft
  - name: latency
    when: { kind: threshold, metric: p95_latency_ms, op: ">=", value: 600, for: 10m }
    action: hold
    hold: {}
${TWO_PHASES}`);
    expect(plan.triggers[0]).toEqual({
      name: 'sev2',
      description: '2+ Sev-2 incidents',
      when: { kind: 'incidents', atLeast: { sev2: 2 }, scope: 'rollout' },
      action: 'hold',
      hold: { decidedBy: ['ceo'], timeout: '4h', default: 'rollback' },
      severity: 'soft',
    });
    expect(plan.triggers[1]?.hold).toEqual({ default: 'stay' });
  });

  test('incident triggers: any Sev-1 rolls back, in the rollout or in one phase', () => {
    const plan = parse(`triggers:
  - name: any-sev1
    when: { kind: incidents, atLeast: { sev1: 1 } }
    action: rollback
phases:
  - name: canary
    percent: 5
    triggers:
      - name: security
        when: { kind: incidents, atLeast: { security: 1 }, scope: phase }
        action: kill
  - name: full
    percent: 100
`);
    expect(plan.triggers[0]?.when).toEqual({ kind: 'incidents', atLeast: { sev1: 1 }, scope: 'rollout' });
    expect(plan.phases[0]?.triggers?.[0]).toEqual({
      name: 'security',
      when: { kind: 'incidents', atLeast: { security: 1 }, scope: 'phase' },
      action: 'kill',
    });
  });
});

describe('controls, budgets, rollback, notifications', () => {
  test('kill switch, per-cohort flags, circuit breaker, force promotion and operators', () => {
    const plan = parse(`controls:
  killSwitch: { flag: system.canary.enabled }
  cohortFlag: "canary.cohort.{name}.enabled"
  circuitBreaker: { consecutiveErrors: 3 }
  forcePromote: { roles: [ceo] }
  operators: [oncall]
${TWO_PHASES}`);
    expect(plan.controls).toEqual({
      killSwitch: { flag: 'system.canary.enabled' },
      cohortFlag: 'canary.cohort.{name}.enabled',
      circuitBreaker: { consecutiveErrors: 3, action: 'kill' },
      forcePromote: { roles: ['ceo'] },
      operators: ['oncall'],
    });
  });

  test('budgets: pre-approved, and above a limit with a co-signature', () => {
    const plan = parse(`budgets:
  - { name: shadow, phases: [canary], limit: 50, preApproved: true }
  - name: canary-spend
    phases: [canary, full]
    limit: 300
    spend: { metric: spend_usd }
    cosign: { role: cfo }
  - { name: eu, phases: [full], limit: 100, currency: EUR, cosign: { role: cfo, above: 150 } }
${TWO_PHASES}`);
    expect(plan.budgets).toEqual([
      { name: 'shadow', phases: ['canary'], limit: 50, currency: 'USD', preApproved: true },
      { name: 'canary-spend', phases: ['canary', 'full'], limit: 300, currency: 'USD', spend: { metric: 'spend_usd' }, preApproved: false, cosign: { role: 'cfo' } },
      { name: 'eu', phases: ['full'], limit: 100, currency: 'EUR', preApproved: false, cosign: { role: 'cfo', above: 150 } },
    ]);
  });

  test('rollback verification and follow-up tasks', () => {
    const plan = parse(`rollback:
  target: previous-percent
  verify:
    within: 5m
    checks:
      - name: slo-baseline
        when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, window: 1m }
  tasks:
    - { name: postmortem, run: { type: manual, role: oncall } }
${TWO_PHASES}`);
    expect(plan.rollback).toEqual({
      target: 'previous-percent',
      verify: { within: '5m', checks: [{ name: 'slo-baseline', when: { kind: 'threshold', metric: 'error_rate', op: '<', value: 0.01, window: '1m' } }] },
      tasks: [{ name: 'postmortem', on: 'enter', run: { type: 'manual', role: 'oncall' }, required: false }],
    });
  });

  test('a rollback turns flags off by default', () => {
    expect(parse(TWO_PHASES).rollback).toEqual({ target: 'off' });
  });

  test('notifications by event and channel', () => {
    const plan = parse(`notifications:
  - { on: [started, phase-advanced, completed], channels: [releases] }
  - { on: [rollback, killed, trigger-fired], channels: [pager, releases], source: "seed 001: alert #releases" }
${TWO_PHASES}`);
    expect(plan.notifications).toEqual([
      { on: ['started', 'phase-advanced', 'completed'], channels: ['releases'] },
      { on: ['rollback', 'killed', 'trigger-fired'], channels: ['pager', 'releases'], source: 'seed 001: alert #releases' },
    ]);
  });

  test('analysis settings and their defaults', () => {
    expect(parse(TWO_PHASES).analysis).toEqual({ interval: '30s', inconclusiveLimit: '15m', onInconclusive: 'hold', consecutiveErrorLimit: 3, onError: 'hold' });
    expect(parse(`analysis: { interval: 1m, onError: pause }\n${TWO_PHASES}`).analysis).toEqual({
      interval: '1m',
      inconclusiveLimit: '15m',
      onInconclusive: 'hold',
      consecutiveErrorLimit: 3,
      onError: 'pause',
    });
  });
});

describe('after 100%', () => {
  test('stabilization, success criteria and the golden re-freeze', () => {
    const plan = parse(`${TWO_PHASES}afterFull:
  stabilization:
    duration: 7d
    minDuration: 24h
    tasks:
      - { name: morning-review, on: daily, at: "09:00", run: { type: manual, role: po } }
    gates:
      - name: no-p0
        when: { kind: incidents, atMost: { p0: 0 } }
  successCriteria:
    over: 30d
    checks:
      - name: adoption
        when: { kind: threshold, metric: adoption, op: ">=", value: 0.7 }
  refreeze:
    - { name: baseline-hashes, run: { type: command, command: "npm run hashes" } }
    - { name: tag, run: { type: command, command: "git tag ZT3G_GOLDEN_20260114_039" } }
    - { name: freeze-lock, run: { type: manual } }
`);
    expect(plan.afterFull).toEqual({
      stabilization: {
        duration: '7d',
        minDuration: '24h',
        tasks: [{ name: 'morning-review', on: 'daily', at: '09:00', run: { type: 'manual', role: 'po' }, required: false }],
        gates: [{ name: 'no-p0', when: { kind: 'incidents', atMost: { p0: 0 }, scope: 'rollout' } }],
      },
      successCriteria: { over: '30d', checks: [{ name: 'adoption', when: { kind: 'threshold', metric: 'adoption', op: '>=', value: 0.7 } }] },
      refreeze: [
        { name: 'baseline-hashes', on: 'enter', run: { type: 'command', command: 'npm run hashes', timeout: '10m' }, required: false },
        { name: 'tag', on: 'enter', run: { type: 'command', command: 'git tag ZT3G_GOLDEN_20260114_039', timeout: '10m' }, required: false },
        { name: 'freeze-lock', on: 'enter', run: { type: 'manual' }, required: false },
      ],
    });
  });

  test('evidence: the ops log and the bundle directory', () => {
    const plan = parse(`${TWO_PHASES}evidence: { opsLog: .canary/ops-log.jsonl, bundle: docs/evidence/canary_day0/ }\n`);
    expect(plan.evidence).toEqual({ opsLog: '.canary/ops-log.jsonl', bundle: 'docs/evidence/canary_day0/' });
  });
});

describe('providers and the plan itself', () => {
  test('every kind of metric source, flag provider and channel', () => {
    const plan = parseDocumentText(`apiVersion: canary/v1
id: providers
name: Providers
runId: CEOSPRINT-20260114-CANARY
owner: Engineering Manager
description: every provider kind
source: seed 002
target: { flags: [a, b], provider: unleash, environment: production }
providers:
  metrics:
    prom:
      type: prometheus
      url: "https://prometheus.example.com"
      timeout: 5s
      auth: { bearerTokenEnv: PROM_TOKEN }
    basic:
      type: prometheus
      url: "https://prometheus.example.com"
      auth: { usernameEnv: PROM_USER, passwordEnv: PROM_PASSWORD }
    app: { type: scrape, url: "http://localhost:8080/metrics", interval: 15s }
    sim: { type: scenario }
  flags:
    file: { type: flagd-file, path: .canary/flags.json }
    unleash: { type: unleash, url: "https://unleash.example.com/api", tokenEnv: UNLEASH_TOKEN, environment: production }
    hook: { type: webhook, url: "https://flags.example.com/set" }
channels:
  slack: { type: slack, webhookUrlEnv: SLACK_WEBHOOK_URL }
  pd: { type: pagerduty, routingKeyEnv: PD_KEY }
  hook: { type: webhook, urlEnv: HOOK_URL }
  mail: { type: email, to: [exec@example.com], smtpUrlEnv: SMTP_URL }
  log: { type: log }
phases:
  - { name: all, percent: 100 }
`);
    expect(plan).toMatchObject({ runId: 'CEOSPRINT-20260114-CANARY', owner: 'Engineering Manager', description: 'every provider kind', source: 'seed 002' });
    expect(plan.target).toEqual({ flags: ['a', 'b'], provider: 'unleash', environment: 'production' });
    expect(plan.providers.metrics).toEqual({
      prom: { type: 'prometheus', url: 'https://prometheus.example.com', timeout: '5s', auth: { bearerTokenEnv: 'PROM_TOKEN' } },
      basic: { type: 'prometheus', url: 'https://prometheus.example.com', auth: { usernameEnv: 'PROM_USER', passwordEnv: 'PROM_PASSWORD' } },
      app: { type: 'scrape', url: 'http://localhost:8080/metrics', interval: '15s' },
      sim: { type: 'scenario' },
    });
    expect(plan.providers.flags.unleash).toEqual({
      type: 'unleash',
      url: 'https://unleash.example.com/api',
      tokenEnv: 'UNLEASH_TOKEN',
      project: 'default',
      environment: 'production',
    });
    expect(plan.providers.flags.hook).toEqual({ type: 'webhook', url: 'https://flags.example.com/set' });
    expect(Object.values(plan.channels).map((c) => c.type)).toEqual(['slack', 'pagerduty', 'webhook', 'email', 'log']);
    expect(plan.metrics).toEqual({});
    expect(plan.roles).toEqual({});
  });

  test('a plan written in JSON is accepted', () => {
    const plan = parseDocumentText(
      JSON.stringify({
        apiVersion: 'canary/v1',
        id: 'json-plan',
        name: 'JSON plan',
        target: { flags: ['checkout.v2'], provider: 'file', environment: 'prod' },
        providers: { flags: { file: { type: 'flagd-file', path: 'flags.json' } } },
        phases: [
          { name: 'canary', percent: 0.5, minDuration: '1h' },
          { name: 'full', percent: 100, permanent: true },
        ],
      }),
    );
    expect(plan.id).toBe('json-plan');
    expect(plan.phases).toEqual([
      { name: 'canary', percent: 0.5, minDuration: '1h', permanent: false },
      { name: 'full', percent: 100, permanent: true },
    ]);
  });
});
