/**
 * Sustain semantics layered over single evaluations: "for 10 minutes" and "N consecutive windows".
 *
 * Polarity matters for missing data. For a gate, inconclusive evidence breaks a streak (it never counts towards a
 * pass). For a trigger, inconclusive evidence neither confirms nor clears a breach: the streak is kept, not
 * extended. Either way, missing data never moves a decision towards "safe".
 */
import type { ConditionResult, ConditionTiming } from './conditions';
import { formatDuration } from './duration';
import type { ConditionTrack, Millis } from './types';

export type Polarity = 'gate' | 'trigger';

export function newTrack(): ConditionTrack {
  return { windowsPassed: 0, satisfied: false };
}

/**
 * Folds one evaluation at time `at` into the track and recomputes `satisfied` under the condition's sustain rule
 * (its compiled {@link ConditionTiming}). Mutates and returns the track.
 */
export function updateTrack(
  track: ConditionTrack,
  timing: ConditionTiming,
  result: ConditionResult,
  detail: string,
  at: Millis,
  polarity: Polarity,
  options: { openWindowCounts?: boolean } = {},
): ConditionTrack {
  const unknown = result === 'inconclusive' || result === 'error';
  if (unknown) track.inconclusiveSince ??= at;
  else {
    track.inconclusiveSince = undefined;
    track.inconclusiveReported = false;
  }
  track.lastEvaluatedAt = at;
  track.detail = detail;

  const { forMs, windowMs, windows, failureLimit } = timing;
  if (failureLimit !== undefined) {
    // A total of failed measurements, consecutive or not (counted where the condition holds: a trigger's breach).
    if (result === 'true') track.failures = (track.failures ?? 0) + 1;
    track.satisfied = (track.failures ?? 0) >= failureLimit;
    return track;
  }
  if (windows !== undefined && windowMs !== undefined) {
    track.windowEnd ??= at + windowMs;
    const sample: 'pass' | 'fail' | 'inconclusive' = unknown ? 'inconclusive' : result === 'true' ? 'pass' : 'fail';
    track.windowVerdict = foldWindow(track.windowVerdict, sample);
    if (at >= track.windowEnd) {
      const verdict = track.windowVerdict;
      if (verdict === 'pass') track.windowsPassed += 1;
      else if (verdict === 'fail' || polarity === 'gate') track.windowsPassed = 0;
      // The next window after `at`, in one step: a loop would never end on a window that rounds to 0 ms (the plan
      // loader refuses one under 1 s, but a plan started in code has not been through the loader).
      const step = Math.max(windowMs, 1);
      track.windowEnd += (Math.floor((at - track.windowEnd) / step) + 1) * step;
      track.windowVerdict = undefined;
    }
    // A gate is met on its last N closed windows only while the window still open holds no failing reading: a bad
    // window in progress is not ignored until it closes. (A trigger fires on its closed windows alone.)
    const openWindowFails = options.openWindowCounts === true && polarity === 'gate' && track.windowVerdict === 'fail';
    track.satisfied = track.windowsPassed >= windows && !openWindowFails;
    return track;
  }
  if (forMs !== undefined) {
    if (result === 'true') track.trueSince ??= at;
    else if (result === 'false' || polarity === 'gate') track.trueSince = undefined;
    track.satisfied = track.trueSince !== undefined && at - track.trueSince >= forMs;
    return track;
  }
  track.satisfied = result === 'true';
  return track;
}

/** A window is a pass only if every sample in it passed; any failure fails it; otherwise it is inconclusive. */
function foldWindow(
  current: 'pass' | 'fail' | 'inconclusive' | undefined,
  sample: 'pass' | 'fail' | 'inconclusive',
): 'pass' | 'fail' | 'inconclusive' {
  if (current === 'fail' || sample === 'fail') return 'fail';
  if (current === 'inconclusive' || sample === 'inconclusive') return 'inconclusive';
  return 'pass';
}

/**
 * How far an unmet "for" or consecutive-windows rule has got, in words, for status views: "true for 2s of the 6s it
 * needs", "1 of 3 consecutive 5m windows passed". Undefined when the condition has no sustain rule or is met.
 */
export function sustainProgress(track: ConditionTrack | undefined, timing: ConditionTiming, now: Millis): string | undefined {
  if (!track || track.satisfied) return undefined;
  const { forMs, windowMs, windows, failureLimit } = timing;
  if (failureLimit !== undefined) return `${track.failures ?? 0} of ${failureLimit} failed measurements`;
  if (windows !== undefined && windowMs !== undefined) {
    return `${track.windowsPassed} of ${windows} consecutive ${formatDuration(windowMs)} windows passed`;
  }
  if (forMs !== undefined && track.trueSince !== undefined) {
    return `true for ${formatDuration(Math.max(0, Math.floor((now - track.trueSince) / 1000) * 1000)) || '0s'} of the ${formatDuration(forMs)} it needs`;
  }
  return undefined;
}
