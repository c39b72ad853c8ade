/**
 * One frame of live progress: what an operator reads in `canary watch` and `npm start`.
 */
import type { OpsLogEntry } from '../../src/domain/types';
import { describeWait, type Wait } from '../../src/domain/waits';
import { renderOpsLogLine } from '../../src/view/ops-log-line';
import { renderProgress, shellWord } from '../../src/view/progress';
import type { RolloutStatusView } from '../../src/workflows/messages';

const T0 = Date.parse('2026-01-14T08:00:00Z');

/** A status view; `waits` also sets `waitingFor` to their words, as the domain's `statusOf` does. */
function view(overrides: Partial<RolloutStatusView> = {}): RolloutStatusView {
  const waits = overrides.waits ?? [];
  return {
    rolloutId: 'rollout:checkout.v2:prod',
    planId: 'checkout-v2',
    status: 'running',
    phase: 'canary',
    phaseIndex: 0,
    percent: 5,
    phaseEnteredAt: T0,
    minimumEndsAt: T0 + 90 * 60_000,
    gates: [],
    opsLog: [],
    ...overrides,
    waits,
    waitingFor: waits.map(describeWait),
  };
}

const cfoToEnterLive: Wait = { kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'live', at: 'enter' };

describe('renderProgress', () => {
  test('shows the rollout, its phase and percent and the time left in the minimum duration', () => {
    expect(renderProgress(view(), { now: T0 + 30 * 60_000 })).toEqual([
      'rollout:checkout.v2:prod — running',
      '  phase       canary (phase 1) at 5%, for 30m, minimum duration: 1h left',
    ]);
  });

  test('says the minimum duration is met once it has passed', () => {
    const [, phase] = renderProgress(view(), { now: T0 + 91 * 60_000 });
    expect(phase).toBe('  phase       canary (phase 1) at 5%, for 1h31m, minimum duration met');
  });

  test('leaves the minimum out for a phase without one', () => {
    const [, phase] = renderProgress(view({ minimumEndsAt: undefined }), { now: T0 + 1500 });
    expect(phase).toBe('  phase       canary (phase 1) at 5%, for 1s');
  });

  test('lists each gate met or not with its current value against the threshold', () => {
    const lines = renderProgress(
      view({
        gates: [
          { name: 'latency', satisfied: true, detail: 'p95_latency_ms 412 <= 500 (3 of 3 windows)' },
          { name: 'errors', satisfied: false, detail: 'error_rate 2.5 >= 2' },
          { name: 'saturation', satisfied: false },
        ],
      }),
      { now: T0 },
    );
    expect(lines.slice(2)).toEqual([
      '  gate        latency: met — p95_latency_ms 412 <= 500 (3 of 3 windows)',
      '  gate        errors: not met — error_rate 2.5 >= 2',
      '  gate        saturation: not met — not evaluated yet',
    ]);
  });

  test('lists what it waits for and the exact command that approves each pending role', () => {
    const lines = renderProgress(
      view({
        waits: [
          { kind: 'minimum', phase: 'canary', duration: '90m', endsAt: T0 + 90 * 60_000, left: 60 * 60_000 },
          cfoToEnterLive,
          { kind: 'approval', role: 'ceo', have: 1, need: 2, phase: 'canary', at: 'exit' },
        ],
      }),
      { now: T0 },
    );
    expect(lines.slice(2)).toEqual([
      '  waiting for minimum duration 90m (1h left)',
      '  waiting for approval by cfo (0 of 1) to enter live',
      '  waiting for approval by ceo (1 of 2) to leave canary',
      '  to approve  canary approve rollout:checkout.v2:prod --role cfo',
      '  to approve  canary approve rollout:checkout.v2:prod --role ceo',
    ]);
  });

  test('uses the given rollout id in the commands and quotes it when the shell would split it', () => {
    const lines = renderProgress(view({ waits: [cfoToEnterLive] }), { now: T0, rolloutId: 'my rollout' });
    expect(lines[0]).toBe('my rollout — running');
    expect(lines).toContain("  to approve  canary approve 'my rollout' --role cfo");
  });

  test('a rejected approval is waited for but offers no approve command', () => {
    const lines = renderProgress(view({ waits: [{ ...cfoToEnterLive, rejected: { by: 'cfo@example.com', reason: 'numbers are off' } }] }), { now: T0 });
    expect(lines).toContain('  waiting for approval by cfo: rejected by cfo@example.com (numbers are off)');
    expect(lines.some((line) => line.includes('canary approve'))).toBe(false);
  });

  test('a token waiting to be consumed shows the command that consumes it', () => {
    const lines = renderProgress(
      view({ status: 'waiting', phase: 'before-start', phaseIndex: -1, percent: 0, minimumEndsAt: undefined, waits: [{ kind: 'token', id: 'HITL-CEO-1', role: 'ceo', phase: 'canary', blockedBy: [] }] }),
      { now: T0 },
    );
    expect(lines).toEqual([
      'rollout:checkout.v2:prod — waiting',
      '  phase       not started (before-start), traffic 0%',
      '  waiting for token HITL-CEO-1 to be consumed by ceo (its conditions hold)',
      '  to consume  canary consume-token rollout:checkout.v2:prod HITL-CEO-1 --role ceo',
    ]);
  });

  test('a hold shows its reason, who decides it, its deadline with the time left, and the approve command', () => {
    const lines = renderProgress(
      view({
        status: 'holding',
        hold: { reason: 'error_rate >= 2% for 5m', since: T0 + 60_000, deadline: T0 + 61 * 60_000, decidedBy: ['ceo'] },
        waits: [{ kind: 'hold', cause: 'errors', reason: 'error_rate >= 2% for 5m', since: T0 + 60_000, decidedBy: ['ceo'], deadline: T0 + 61 * 60_000, default: 'rollback' }],
      }),
      { now: T0 + 11 * 60_000 },
    );
    expect(lines.slice(2)).toEqual([
      '  waiting for a decision on the hold (errors) by ceo: canary resume or canary rollback; otherwise rollback at 2026-01-14T09:01:00.000Z',
      '  to approve  canary approve rollout:checkout.v2:prod --role ceo',
      '  hold        error_rate >= 2% for 5m; since 2026-01-14T08:01:00Z; decided by ceo; deadline 2026-01-14T09:01:00Z (50m left)',
    ]);
  });

  test('a hold past its deadline says how long ago it passed', () => {
    const lines = renderProgress(view({ status: 'holding', hold: { reason: 'no data', since: T0, deadline: T0 + 60_000 } }), { now: T0 + 90_000 });
    expect(lines.at(-1)).toBe('  hold        no data; since 2026-01-14T08:00:00Z; deadline 2026-01-14T08:01:00Z (passed 30s ago)');
  });

  test('a finished rollout shows its outcome when it differs from the status', () => {
    const lines = renderProgress(view({ status: 'rolling-back', outcome: 'rolled_back', percent: 0 }), { now: T0 });
    expect(lines[0]).toBe('rollout:checkout.v2:prod — rolling-back (outcome: rolled_back)');
    expect(renderProgress(view({ status: 'completed', outcome: 'completed' }), { now: T0 })[0]).toBe('rollout:checkout.v2:prod — completed');
  });
});

describe('shellWord', () => {
  test('leaves plain words alone and single-quotes the rest', () => {
    expect(shellWord('rollout:checkout.v2:prod')).toBe('rollout:checkout.v2:prod');
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
  });
});

describe('renderOpsLogLine', () => {
  const entry: OpsLogEntry = {
    at: T0 + 65_000,
    phase: 'canary',
    percent: 5,
    action: 'advance',
    reason: 'gates held for 1m',
    actor: 'cfo@example.com',
    metrics: { p95_latency_ms: 412 },
  };

  test('prints time of day, phase, percent, decision, reason, actor and metrics', () => {
    expect(renderOpsLogLine(entry)).toBe('08:01:05Z canary 5%  advance  gates held for 1m — by cfo@example.com [p95_latency_ms=412]');
  });

  test('prints the offset from a start instead of the time when asked', () => {
    expect(renderOpsLogLine({ ...entry, actor: undefined, metrics: undefined }, { since: T0 })).toBe('  +1m5s canary 5%  advance  gates held for 1m');
  });
});

describe('renderProgress: commands as a person runs them, and triggers on their way', () => {
  test('prints the approve command with --by for each member of the role, so it runs as printed', () => {
    const lines = renderProgress(view({ waits: [cfoToEnterLive], approvers: { cfo: ['cfo@example.com', 'deputy-cfo@example.com'] } }), { now: T0 });
    expect(lines).toContain(`  to approve  canary approve ${shellWord('rollout:checkout.v2:prod')} --role cfo --by cfo@example.com`);
    expect(lines).toContain(`  to approve  canary approve ${shellWord('rollout:checkout.v2:prod')} --role cfo --by deputy-cfo@example.com`);
  });

  test('shows each trigger counting toward firing, with how far it has got', () => {
    const lines = renderProgress(
      view({
        triggers: [
          { name: 'error-hard-stop', action: 'rollback', fired: false, progress: 'true for 30s of the 2m it needs', detail: 'error_rate = 0.06 ratio (condition >= 0.05)' },
          { name: 'quiet', action: 'hold', fired: false },
        ],
      }),
      { now: T0 },
    );
    expect(lines).toContain('  trigger     error-hard-stop (rollback): true for 30s of the 2m it needs toward firing — error_rate = 0.06 ratio (condition >= 0.05)');
    expect(lines.some((l) => l.includes('quiet'))).toBe(false);
  });
});
