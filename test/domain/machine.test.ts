import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { apply, initialState, refusal, step } from '../helpers/machine';
import { Scenario, type ScenarioInput } from '../../src/simulate/scenario';
import { simulate, type SimulationResult } from '../../src/simulate/simulator';

const BASE = `
apiVersion: canary/v1
id: t
name: Test plan
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
  p95: { source: sim, query: p95, unit: ms }
  events: { source: sim, query: events }
roles:
  cfo: { members: [cfo@example.com], signatureRequired: false }
  ceo: { members: [ceo@example.com] }
  sre: { members: [sre@example.com] }
`;

function plan(extra: string): Plan {
  const loaded = parsePlanText(BASE + extra, 'test.yaml');
  if (!loaded.ok) throw new Error(loaded.issues.map((i) => `${i.line} ${i.path}: ${i.message}`).join('\n'));
  return loaded.plan;
}

async function run(p: Plan, scenario: ScenarioInput): Promise<SimulationResult> {
  return simulate(p, Scenario.parse(scenario));
}

const actions = (r: SimulationResult) => r.decisions.map((d) => `${d.offset} ${d.phase} ${d.action}`);
const find = (r: SimulationResult, action: string) => r.decisions.find((d) => d.action === action);

const TWO_PHASES = `
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100 }
`;

describe('the rollout machine', () => {
  it('advances only after three consecutive 5-minute windows pass (seed 000)', async () => {
    const p = plan(`
analysis: { interval: 1m }
gates:
  - name: p95
    when: { kind: threshold, metric: p95, op: "<=", value: 500, window: 5m, consecutiveWindows: 3 }
${TWO_PHASES}`);
    // Windows are consecutive 5-minute spans from the phase's first evaluation, one interval after entry (the reading
    // taken at entry is the baseline, before the canary had traffic). Latency is bad until 58m, so the window ending at
    // 61m fails and the three good ones end at 66m, 71m and 76m.
    const r = await run(p, { duration: '3h', metrics: { p95: [{ from: '0s', value: 700 }, { from: '58m', value: 300 }] } });
    const advance = find(r, 'advance');
    expect(advance?.offset).toBe('+01:16:00');
    expect(advance?.reason).toContain('p95 ok (p95 = 300 ms (condition <= 500))');
    expect(r.outcome).toBe('completed');
  });

  it('holds when analytics data is missing for more than 15 minutes, and never counts missing data as a pass', async () => {
    const p = plan(`
analysis: { interval: 1m, inconclusiveLimit: 15m, onInconclusive: hold }
gates:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
${TWO_PHASES}`);
    const r = await run(p, { duration: '3h', metrics: { error_rate: [{ from: '0s', value: 0.001 }, { from: '30m', gap: true }] } });
    const hold = find(r, 'hold');
    expect(hold?.offset).toBe('+00:46:00');
    expect(hold?.reason).toContain('has had no usable data for 16m');
    expect(r.decisions.some((d) => d.action === 'advance')).toBe(false);
    expect(r.outcome).toBe('held');
    expect(r.finalPercent).toBe(10);
  });

  it('treats a metric source failure as neither a pass nor a breach, and holds after 3 consecutive errors', async () => {
    const p = plan(`
analysis: { interval: 1m, consecutiveErrorLimit: 3, onError: hold }
gates:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
${TWO_PHASES}`);
    const r = await run(p, { duration: '3h', metrics: { error_rate: [{ from: '0s', value: 0.001 }, { from: '50m', error: 'connection refused' }] } });
    expect(find(r, 'hold')?.reason).toContain('3 consecutive metric source errors: error_rate (connection refused)');
    expect(find(r, 'advance')).toBeUndefined();
  });

  it('rolls back only when the error rate stays above 5% for the full 2 minutes (seed 003 hard stop)', async () => {
    const p = plan(`
analysis: { interval: 30s }
triggers:
  - name: hard-stop
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05, for: 2m }
    action: rollback
${TWO_PHASES}`);
    const blip = await run(p, { duration: '2h', metrics: { error_rate: [{ from: '0s', value: 0.001 }, { from: '20m', to: '21m30s', value: 0.2 }] } });
    expect(blip.outcome).toBe('completed');
    const sustained = await run(p, { duration: '2h', metrics: { error_rate: [{ from: '0s', value: 0.001 }, { from: '20m', value: 0.2 }] } });
    expect(sustained.outcome).toBe('rolled_back');
    expect(find(sustained, 'rollback')?.offset).toBe('+00:22:00');
    expect(sustained.flags['checkout-v2']).toEqual({ percent: 0, enabled: false });
  });

  it('reverts to the previous phase when a soft stop is unresolved within 15 minutes (seed 004)', async () => {
    const p = plan(`
analysis: { interval: 1m }
phases:
  - { name: p10, percent: 10, minDuration: 30m }
  - name: p25
    percent: 25
    minDuration: 4h
    triggers:
      - name: latency-spike
        when: { kind: threshold, metric: p95, op: ">", value: 800, for: 2m }
        action: hold
        hold: { decidedBy: [sre], timeout: 15m, default: revert-phase }
  - { name: full, percent: 100 }
`);
    const r = await run(p, { duration: '2h', metrics: { p95: [{ from: '0s', value: 200 }, { from: '40m', value: 1200 }] } });
    expect(actions(r)).toEqual(expect.arrayContaining(['+00:42:00 p25 hold', '+00:57:00 p10 revert-phase']));
    expect(find(r, 'revert-phase')?.reason).toContain('reverted from p25 to p10 at 10% and paused until resumed');
    expect(r.flags['checkout-v2']).toEqual({ percent: 10, enabled: true });
    expect(r.state.status).toBe('paused');
  });

  it('keeps the token unconsumable while a precondition flag is 0 and says which one (seed 002)', () => {
    const p = plan(`
checks:
  - { name: SHADOW_PASS_24H, when: { kind: value, name: SHADOW_PASS_24H, equals: 1 } }
  - { name: EVIDENCE_BUNDLE, when: { kind: value, name: EVIDENCE_BUNDLE, equals: 1 } }
tokens:
  - { id: HITL-1, role: ceo, requires: [SHADOW_PASS_24H, EVIDENCE_BUNDLE] }
${TWO_PHASES}`);
    const state = initialState(0);
    apply(p, state, { type: 'start', at: 0 });
    apply(p, state, { type: 'providers-checked', at: 0, offline: [] });
    apply(p, state, { type: 'report-value', at: 1, id: 'r1', name: 'SHADOW_PASS_24H', value: 1, by: 'ops' });
    apply(p, state, { type: 'report-value', at: 2, id: 'r2', name: 'EVIDENCE_BUNDLE', value: 0, by: 'ops' });
    expect(state.status).toBe('waiting');
    expect(state.waitingFor.join()).toContain('HOLD: EVIDENCE_BUNDLE: EVIDENCE_BUNDLE is 0 (needs 1)');
    const consume = { type: 'consume-token', at: 3, id: 't1', token: 'HITL-1', by: 'ceo@example.com', role: 'ceo' } as const;
    expect(refusal(p, state, consume)).toEqual({ code: 'conditions-unmet', message: 'its conditions do not hold: EVIDENCE_BUNDLE: EVIDENCE_BUNDLE is 0 (needs 1) — HOLD' });

    apply(p, state, { type: 'report-value', at: 4, id: 'r3', name: 'EVIDENCE_BUNDLE', value: 1, by: 'ops' });
    const commands = apply(p, state, { ...consume, id: 't2', at: 5 });
    expect(commands).toContainEqual(expect.objectContaining({ type: 'set-flags', percent: 10 }));
    expect(state.phaseIndex).toBe(0);
  });

  it('rolls back at once on any Sev-1 and holds for a CEO decision on the second Sev-2 (seed 002)', async () => {
    const p = plan(`
triggers:
  - { name: sev1, when: { kind: incidents, atLeast: { sev1: 1 } }, action: rollback }
  - name: sev2
    when: { kind: incidents, atLeast: { sev2: 2 } }
    action: hold
    hold: { decidedBy: [ceo] }
${TWO_PHASES}`);
    const held = await run(p, {
      duration: '3h',
      events: [
        { at: '10m', incident: { severity: 'sev2', title: 'slow checkout' } },
        { at: '20m', incident: { severity: 'sev2', title: 'card errors' } },
        { at: '30m', approve: { role: 'ceo', by: 'ceo@example.com', reason: 'known issue, continue' } },
      ],
    });
    expect(actions(held)).toEqual(expect.arrayContaining(['+00:20:00 canary hold', '+00:30:00 canary resume']));
    expect(held.outcome).toBe('completed');

    const sev1 = await run(p, { duration: '3h', events: [{ at: '5m', incident: { severity: 'sev1', title: 'outage' } }] });
    expect(sev1.outcome).toBe('rolled_back');
    expect(find(sev1, 'rollback')?.reason).toContain('trigger sev1 fired: incidents sev1: 1 (sev1 reached 1)');
  });

  it('applies a phase config change on entry and reverts it on rollback (seed 002 Stripe TEST → LIVE)', async () => {
    const p = plan(`
controls: { safety: [sre] }
phases:
  - { name: canary-5, percent: 5, minDuration: 1h }
  - name: canary-25
    percent: 25
    minDuration: 1h
    configChanges: [{ key: stripe.mode, from: TEST, to: LIVE }]
  - { name: full, percent: 100 }
`);
    const r = await run(p, { duration: '3h', events: [{ at: '90m', operator: { command: 'rollback', by: 'sre@example.com', role: 'sre', reason: 'refund spike' } }] });
    expect(r.outcome).toBe('rolled_back');
    expect(r.config['stripe.mode']).toBe('TEST');
    expect(find(r, 'rollback')?.reason).toContain('configuration reverted');
  });

  it('holds when the canary budget is overspent until the CFO co-signs (seed 002)', async () => {
    const p = plan(`
budgets:
  - { name: canary, phases: [canary], limit: 300, cosign: { role: cfo } }
${TWO_PHASES}`);
    const r = await run(p, {
      duration: '3h',
      events: [
        { at: '10m', spend: { budget: 'canary', total: 320 } },
        { at: '2h', approve: { role: 'cfo', by: 'cfo@example.com', subject: 'budget:canary' } },
      ],
    });
    expect(find(r, 'hold')?.reason).toContain('budget canary spend USD 320 is above 300: needs a cfo co-sign');
    expect(actions(r)).toEqual(expect.arrayContaining(['+02:00:00 canary resume', '+02:00:00 full advance']));
  });

  it('skips to 100% on promote --force and records who and why, but refuses it without a reason', () => {
    const p = plan(`
controls: { forcePromote: { roles: [sre] } }
phases:
  - { name: a, percent: 5, minDuration: 1h }
  - { name: b, percent: 25, minDuration: 1h, approvals: [{ role: cfo }] }
  - { name: c, percent: 100 }
`);
    const state = initialState(0);
    apply(p, state, { type: 'start', at: 0 });
    apply(p, state, { type: 'providers-checked', at: 0, offline: [] });
    const event = { type: 'operator', at: 10, id: 'f1', command: 'force-promote', by: 'sre@example.com', role: 'sre' } as const;
    expect(refusal(p, state, event)).toEqual({ code: 'reason-required', message: 'promote --force needs a reason' });
    apply(p, state, { ...event, id: 'f2', reason: 'hotfix for outage' });
    expect(state.percent).toBe(100);
    expect(state.opsLog.find((e) => e.action === 'force-promote')).toMatchObject({ actor: 'sre@example.com', reason: expect.stringContaining('hotfix for outage') });
  });

  it('turns every flag off at once on the kill switch', async () => {
    const p = plan(`
controls: { killSwitch: { flag: system.canary.enabled }, cohortFlag: "canary.cohort.{name}.enabled", safety: [sre] }
phases:
  - { name: internal, percent: 0.5, minDuration: 1h, cohorts: [{ name: internal_test }] }
  - { name: full, percent: 100 }
`);
    const r = await run(p, { duration: '3h', events: [{ at: '10m', operator: { command: 'kill', by: 'sre@example.com', role: 'sre' } }] });
    expect(r.outcome).toBe('killed');
    expect(r.flags).toEqual({
      'checkout-v2': { percent: 0, enabled: false },
      'canary.cohort.internal_test.enabled': { percent: 0, enabled: false },
      'system.canary.enabled': { percent: 0, enabled: false },
    });
  });

  it('ignores a repeated message id', () => {
    const p = plan(`
phases:
  - { name: a, percent: 5, approvals: [{ role: cfo, quorum: 1 }] }
  - { name: b, percent: 100 }
`);
    const first = step(p, initialState(0), { type: 'start', at: 0 });
    const approval = { type: 'approval', at: 5, id: 'same', role: 'cfo', by: 'cfo@example.com', decision: 'approve' } as const;
    const once = step(p, first.state, approval);
    const twice = step(p, once.state, { ...approval, at: 6 });
    expect(twice.commands).toEqual([]);
    expect(twice.state.approvals).toHaveLength(1);
  });

  it('ends a phase at the end of the day before its minimum duration (seed 000 "≥ 6 hours (or end of day)")', async () => {
    const p = plan(`
phases:
  - name: p50
    percent: 50
    minDuration: 6h
    calendar: { timezone: UTC, endOfDay: "18:00" }
  - { name: full, percent: 100 }
`);
    // Starts 14:00 UTC: the end of day comes after 4 hours, before the 6-hour minimum.
    const r = await run(p, { start: '2026-01-14T14:00:00Z', duration: '1d' });
    expect(find(r, 'advance')?.offset).toBe('+04:00:00');
  });

  it('records whether metrics returned to baseline within the bound after a rollback (seed 003)', async () => {
    const p = plan(`
analysis: { interval: 30s }
triggers:
  - { name: hard, when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05, for: 2m }, action: rollback }
rollback:
  verify:
    within: 5m
    checks: [{ name: errors-back, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }]
${TWO_PHASES}`);
    const recovered = await run(p, { duration: '2h', metrics: { error_rate: [{ from: '0s', value: 0.001 }, { from: '10m', to: '13m', value: 0.2 }] } });
    expect(recovered.result.rollbackVerified).toBe(true);
    expect(find(recovered, 'rollback-verified')?.reason).toContain('after rollback (bound 5m)');
    const stuck = await run(p, { duration: '2h', metrics: { error_rate: [{ from: '0s', value: 0.001 }, { from: '10m', value: 0.2 }] } });
    expect(stuck.result.rollbackVerified).toBe(false);
    expect(find(stuck, 'rollback-unverified')?.reason).toContain('did NOT return to baseline within 5m');
  });
});
