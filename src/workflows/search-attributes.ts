/**
 * Custom search attributes shown in the Temporal UI's workflow list. Registered on the dev server by `npm start` and
 * the tests; on another cluster register them once with
 * `temporal operator search-attribute create --name CanaryPhase --type Keyword` (and likewise for the others).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const canaryPhaseKey = defineSearchAttributeKey('CanaryPhase', SearchAttributeType.KEYWORD);
export const canaryStatusKey = defineSearchAttributeKey('CanaryStatus', SearchAttributeType.KEYWORD);
export const canaryTrafficPercentKey = defineSearchAttributeKey('CanaryTrafficPercent', SearchAttributeType.DOUBLE);
export const canaryPlanIdKey = defineSearchAttributeKey('CanaryPlanId', SearchAttributeType.KEYWORD);

/** Every custom attribute, for registration. */
export const canarySearchAttributes = [canaryPhaseKey, canaryStatusKey, canaryTrafficPercentKey, canaryPlanIdKey];
