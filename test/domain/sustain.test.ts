import { conditionTiming } from '../../src/domain/conditions';
import { newTrack, sustainProgress, updateTrack } from '../../src/domain/sustain';
import type { ConditionDef } from '../../src/plan/schema';

const forSix = conditionTiming({ kind: 'threshold', metric: 'error_rate', op: '<', value: 0.01, for: '6s' } as ConditionDef);
const threeWindows = conditionTiming({ kind: 'threshold', metric: 'p95', op: '<=', value: 500, window: '5m', consecutiveWindows: 3 } as ConditionDef);

describe('a condition’s timing, compiled once', () => {
  it('reads every duration and count a condition has, in milliseconds', () => {
    expect(conditionTiming({ kind: 'threshold', metric: 'e', op: '<', value: 1, for: '2m', interval: '5m' } as ConditionDef)).toEqual({ forMs: 120_000, everyMs: 300_000 });
    expect(conditionTiming({ kind: 'threshold', metric: 'e', op: '<', value: 1, window: '1h', consecutiveWindows: 3 } as ConditionDef)).toEqual({ windowMs: 3_600_000, windows: 3 });
    expect(conditionTiming({ kind: 'anomaly', metric: 'p95', lookback: '30m', sigma: 3, direction: 'above', minSamples: 10 } as ConditionDef)).toEqual({ lookbackMs: 1_800_000 });
    expect(conditionTiming({ kind: 'freshness', metric: 'events', maxGap: '15m' } as ConditionDef)).toEqual({ gapMs: 900_000 });
    expect(conditionTiming({ kind: 'absence', metric: 'events', longerThan: '2h' } as ConditionDef)).toEqual({ gapMs: 7_200_000 });
    expect(conditionTiming({ kind: 'incidents', scope: 'rollout', within: '1d', atLeast: { 'Sev-1': 1 } } as ConditionDef)).toEqual({ withinMs: 86_400_000 });
    expect(conditionTiming({ kind: 'threshold', metric: 'e', op: '>', value: 0.05, failureLimit: 3 } as ConditionDef)).toEqual({ failureLimit: 3 });
  });
});

describe('how far an unmet sustain rule has got', () => {
  it('says how long a "for" condition has been true of the time it needs', () => {
    const track = newTrack();
    updateTrack(track, forSix, 'true', 'error_rate = 0', 1_000, 'gate');
    updateTrack(track, forSix, 'true', 'error_rate = 0', 3_500, 'gate');
    expect(sustainProgress(track, forSix, 3_500)).toBe('true for 2s of the 6s it needs');
  });

  it('counts consecutive windows passed', () => {
    const track = newTrack();
    for (let at = 0; at <= 300_000; at += 30_000) updateTrack(track, threeWindows, 'true', 'p95 = 300', at, 'gate');
    expect(sustainProgress(track, threeWindows, 300_000)).toBe('1 of 3 consecutive 5m windows passed');
  });

  it('says nothing once the rule is met, or for a condition without one', () => {
    const track = newTrack();
    updateTrack(track, forSix, 'true', 'ok', 0, 'gate');
    updateTrack(track, forSix, 'true', 'ok', 6_000, 'gate');
    expect(sustainProgress(track, forSix, 6_000)).toBeUndefined();
    expect(sustainProgress(newTrack(), conditionTiming({ kind: 'threshold', metric: 'x', op: '<', value: 1 } as ConditionDef), 0)).toBeUndefined();
  });
});

describe('a consecutive-windows condition with a window that rounds to 0 ms', () => {
  it('moves on to the next window instead of spinning forever (a plan started without the loader)', () => {
    const cond = conditionTiming({ kind: 'threshold', metric: 'error_rate', op: '<', value: 0.01, window: '0s', consecutiveWindows: 2 } as ConditionDef);
    const track = newTrack();
    for (let at = 0; at <= 3; at++) updateTrack(track, cond, 'true', 'ok', at, 'gate');
    expect(track.satisfied).toBe(true);
    expect(track.windowEnd).toBe(4);
  });
});
