import { describeApproval, describeCondition, describeTask, describeTrigger, formatSpan, type DescribeContext } from '../../src/plan/describe';
import { ApprovalRequirement, Condition, Task, Trigger } from '../../src/plan/schema';

const context: DescribeContext = {
  metrics: {
    p95_latency_ms: { source: 'prom', query: 'p95', unit: 'ms' },
    error_rate: { source: 'prom', query: 'errors', unit: 'ratio' },
    errors_pct: { source: 'prom', query: 'errors', unit: '%' },
  },
  budgets: [{ name: 'canary', phases: ['canary'], limit: 300, currency: 'USD', preApproved: false }],
  roles: { ceo: { members: ['ceo@example.com'], signatureRequired: true }, cfo: { members: ['cfo@example.com'], signatureRequired: false } },
};

describe('a condition in words', () => {
  test.each([
    [{ kind: 'threshold', metric: 'p95_latency_ms', op: '<=', value: 500, window: '5m', consecutiveWindows: 3 }, 'p95_latency_ms <= 500 ms in 3 consecutive 5m windows'],
    [{ kind: 'threshold', metric: 'error_rate', op: '>=', value: 0.02, for: '5m' }, 'error_rate >= 0.02 (2%) for 5m'],
    [{ kind: 'threshold', metric: 'errors_pct', op: '<', value: 1, window: '5m', interval: '1m' }, 'errors_pct < 1% over a 5m window, checked every 1m'],
    [{ kind: 'threshold', metric: 'unitless', op: '==', value: 0 }, 'unitless == 0'],
    [{ kind: 'relative', metric: 'p95_latency_ms', op: '>', factor: 5, baseline: { metric: 'p95_stable_ms' }, for: '10m' }, 'p95_latency_ms > 5× p95_stable_ms for 10m'],
    [{ kind: 'relative', metric: 'p95_latency_ms', op: '<', factor: 1.1, baseline: { capture: 'before-rollout' } }, 'p95_latency_ms < 1.1× its value before the rollout'],
    [{ kind: 'relative', metric: 'p95_latency_ms', op: '<', factor: 1.1, baseline: { capture: 'phase-start' } }, 'p95_latency_ms < 1.1× its value at phase start'],
    [{ kind: 'relative', metric: 'p95_latency_ms', op: '<', factor: 1.1, baseline: { value: 180 } }, 'p95_latency_ms < 1.1× the baseline 180 ms'],
    [{ kind: 'anomaly', metric: 'error_rate', sigma: 3, lookback: '1h' }, 'error_rate 3σ or more above its mean over 1h (at least 10 samples)'],
    [{ kind: 'freshness', metric: 'aurora_events', maxGap: '10m' }, 'aurora_events keeps arriving, with no gap longer than 10m'],
    [{ kind: 'absence', metric: 'aurora_events', longerThan: '15m' }, 'no aurora_events for longer than 15m'],
    [{ kind: 'incidents', atMost: { 'Sev-1': 0, 'Sev-2': 1 } }, 'at most 0 Sev-1, 1 Sev-2 incident(s) in the rollout'],
    [{ kind: 'incidents', atLeast: { sev1: 1, sev2: 2 }, scope: 'phase', within: '48h' }, 'at least 1 sev1 or 2 sev2 incident(s) in this phase, last 48h'],
    [{ kind: 'diff', canary: 'calc_canary', stable: 'calc_stable', tolerance: 0.005, minSamples: 1000 }, 'calc_canary differs from calc_stable by at most 0.5%, over at least 1000 samples'],
    [{ kind: 'value', name: 'SHADOW_PASS_24H', equals: 1 }, 'reported value SHADOW_PASS_24H = 1'],
    [{ kind: 'value', name: 'system.canary.enabled', from: 'flag', equals: true }, 'flag system.canary.enabled = true'],
    [{ kind: 'attestation', check: 'docs-complete', role: 'po' }, '"docs-complete" attested by a member of po'],
    [{ kind: 'approval', role: 'cfo', quorum: 2 }, 'approved by 2 members of cfo'],
    [{ kind: 'http', url: 'https://api.example.com/health' }, 'GET https://api.example.com/health answers 200 within 10s'],
    [{ kind: 'command', run: 'npm test' }, '`npm test` exits 0 within 5m'],
    [{ kind: 'alert', alert: 'security-incident', labels: { env: 'prod' } }, 'alert security-incident {env="prod"} is firing'],
    [{ kind: 'budget', budget: 'canary' }, 'spend within budget canary (300 USD)'],
  ].map(([input, words]) => [(input as { kind: string }).kind, words, input] as const))('a %s condition reads "%s"', (_kind, words, input) => {
    expect(describeCondition(Condition.parse(input), context)).toBe(words);
  });
});

test('a hold trigger says who decides and what happens when nobody does', () => {
  const trigger = Trigger.parse({
    name: 'sev2',
    when: { kind: 'incidents', atLeast: { 'Sev-2': 2 } },
    action: 'hold',
    hold: { decidedBy: ['ceo'], timeout: '4h', default: 'rollback' },
    notify: ['executives'],
  });
  expect(describeTrigger(trigger, context)).toBe('at least 2 Sev-2 incident(s) in the rollout → hold, decided by ceo, undecided after 4h: rollback; notify executives');
});

test('an approval takes its signature requirement from its role unless it says otherwise', () => {
  expect(describeApproval(ApprovalRequirement.parse({ role: 'ceo' }), context)).toBe('1 approval by ceo, signature required, to enter');
  expect(describeApproval(ApprovalRequirement.parse({ role: 'ceo', signatureRequired: false, at: 'exit' }), context)).toBe('1 approval by ceo, to leave');
  expect(
    describeApproval(
      ApprovalRequirement.parse({ role: 'cfo', quorum: 2, expiresAfter: '24h', escalate: { after: '2h', to: ['executives'] }, reason: 'Stripe LIVE' }),
      context,
    ),
  ).toBe('2 approvals by cfo, to enter — Stripe LIVE; expires after 24h; escalates after 2h to executives');
});

test('a task says when it runs, what it runs and whether the phase waits for it', () => {
  expect(describeTask(Task.parse({ name: 's', on: 'every', every: '15m', run: { type: 'snapshot' } }))).toBe('every 15m: snapshot of all metrics');
  expect(describeTask(Task.parse({ name: 'c', run: { type: 'command', command: 'npm run wf7' }, required: true }))).toBe(
    'on enter: run `npm run wf7` (timeout 10m) (required to advance)',
  );
  expect(describeTask(Task.parse({ name: 'm', on: 'daily', at: '09:00', run: { type: 'manual', role: 'po' }, description: 'review dashboards' }))).toBe(
    'daily at 09:00: manual by po — review dashboards',
  );
});

test.each([
  [0, '0s'],
  [90_000, '1m30s'],
  [5_400_000, '1h30m'],
  [108_000_000, '30h'],
  [172_800_000, '48h (2d)'],
  [183_600_000, '51h (2d3h)'],
])('a span of %d ms on a timeline reads "%s"', (ms, text) => {
  expect(formatSpan(ms)).toBe(text);
});
