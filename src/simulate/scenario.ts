/**
 * The scenario format for backtesting a plan (docs/scenarios.md): metric values as piecewise segments by offset from
 * the rollout start, data gaps, source errors, and timed events (approvals, incidents, operator commands, …).
 * Read by the simulator and by the scenario metric source, so both see exactly the same values.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { tryParseDuration } from '../domain/duration';
import type { MetricReading, Millis, RolloutEvent } from '../domain/types';

const Offset = z.string().refine((t) => tryParseDuration(t) !== undefined, { message: 'expected an offset such as "0s", "90m", "1d2h"' });

const Segment = z.strictObject({
  from: Offset.default('0s'),
  to: Offset.optional(),
  value: z.number().optional(),
  ramp: z.tuple([z.number(), z.number()]).optional().meta({ description: 'Linear from the first to the second value over [from, to).' }),
  noise: z.strictObject({ mean: z.number(), stdDev: z.number().min(0), seed: z.number().int() }).optional(),
  gap: z.literal(true).optional().meta({ description: 'No data in this span.' }),
  error: z.string().optional().meta({ description: 'The source fails in this span with this message.' }),
  invalid: z.string().optional().meta({ description: 'The source answers with unusable data (NaN, wrong type).' }),
  samples: z.number().int().min(0).optional(),
});

const Metric = z.union([z.number(), z.array(Segment).min(1)]);

const ScenarioEvent = z.union([
  z.strictObject({ at: Offset, approve: z.strictObject({ role: z.string(), by: z.string(), subject: z.string().optional(), reason: z.string().optional(), verified: z.boolean().optional() }) }),
  z.strictObject({ at: Offset, reject: z.strictObject({ role: z.string(), by: z.string(), subject: z.string().optional(), reason: z.string().optional(), verified: z.boolean().optional() }) }),
  z.strictObject({ at: Offset, attest: z.strictObject({ check: z.string(), by: z.string(), note: z.string().optional() }) }),
  z.strictObject({ at: Offset, report: z.strictObject({ name: z.string(), value: z.union([z.number(), z.string(), z.boolean()]), by: z.string() }) }),
  z.strictObject({ at: Offset, consumeToken: z.strictObject({ token: z.string(), by: z.string(), role: z.string(), verified: z.boolean().optional() }) }),
  z.strictObject({ at: Offset, incident: z.strictObject({ id: z.string().optional(), severity: z.string(), title: z.string(), status: z.enum(['open', 'resolved']).optional() }) }),
  z.strictObject({ at: Offset, alert: z.strictObject({ alert: z.string(), status: z.enum(['firing', 'resolved']), labels: z.record(z.string(), z.string()).optional() }) }),
  z.strictObject({ at: Offset, spend: z.strictObject({ budget: z.string(), total: z.number() }) }),
  z.strictObject({
    at: Offset,
    taskResult: z
      .strictObject({
        task: z.string(),
        scope: z.string().meta({ description: 'The phase the task belongs to, or stabilization, refreeze, rollback.' }),
        ok: z.boolean().default(true),
        by: z.string(),
        detail: z.string().optional(),
      })
      .meta({ description: 'A person reports a manual task done (or failed).' }),
  }),
  z.strictObject({
    at: Offset,
    operator: z.strictObject({
      command: z.enum(['pause', 'resume', 'abort', 'rollback', 'promote', 'force-promote', 'kill']),
      by: z.string(),
      role: z.string().optional(),
      reason: z.string().optional(),
    }),
  }),
]);

export const Scenario = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  plan: z.string().optional().meta({ description: 'Plan file, relative to the scenario file.' }),
  start: z.string().datetime({ offset: true }).default('2026-01-14T08:00:00Z'),
  duration: Offset.meta({ description: 'How long to simulate at most.' }),
  metrics: z.record(z.string(), Metric).default({}),
  events: z.array(ScenarioEvent).default([]),
  respond: z
    .strictObject({
      tasks: z
        .strictObject({ after: Offset.meta({ description: 'How long after a manual task is assigned it is reported done.' }) })
        .optional(),
    })
    .optional()
    .meta({ description: 'Stand-ins for people: manual tasks are reported done by a member of their role.' }),
  failingTasks: z.array(z.string()).default([]),
  failingChecks: z.array(z.string()).default([]),
  flags: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  expect: z
    .strictObject({ outcome: z.enum(['completed', 'rolled_back', 'held', 'aborted', 'killed']), finalPercent: z.number().optional() })
    .optional()
    .meta({ description: 'The outcome this scenario is meant to produce (checked by tests).' }),
});

export type Scenario = z.infer<typeof Scenario>;
export type ScenarioInput = z.input<typeof Scenario>;

/** Parses scenario text; throws an Error naming each problem's path. */
export function parseScenario(text: string, file = '<scenario>'): Scenario {
  const result = Scenario.safeParse(parse(text));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${file} ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid scenario:\n${lines.join('\n')}`);
  }
  return result.data;
}

export function loadScenarioFile(file: string): Scenario {
  return parseScenario(readFileSync(file, 'utf8'), file);
}

const offset = (text: string) => tryParseDuration(text) ?? 0;

const spans = new WeakMap<object, [number, number]>();
const constants = new WeakMap<object, Map<string, MetricReading>>();

/** A constant metric's reading, made once per scenario and metric (readers never change readings). */
function constantReading(scenario: Scenario, metric: string, value: number, query: string | undefined): MetricReading {
  let byMetric = constants.get(scenario.metrics);
  if (!byMetric) constants.set(scenario.metrics, (byMetric = new Map()));
  let reading = byMetric.get(metric);
  if (!reading || reading.query !== query || (reading.status === 'ok' && reading.value !== value)) {
    byMetric.set(metric, (reading = { status: 'ok', value, query }));
  }
  return reading;
}

/** A segment's [from, to) in millis, parsed once. */
function spanOf(seg: z.infer<typeof Segment>): [number, number] {
  let span = spans.get(seg);
  if (!span) spans.set(seg, (span = [offset(seg.from), seg.to === undefined ? Infinity : offset(seg.to)]));
  return span;
}

/** Epoch millis at which the scenario starts. */
export function scenarioStart(scenario: Scenario): Millis {
  return Date.parse(scenario.start);
}

/**
 * The reading of `metric` at `offset` ms after the rollout started. Deterministic: the same inputs give the same
 * reading in the simulator and in the workflow's scenario metric source.
 */
export function readingAt(scenario: Scenario, metric: string, offsetMs: Millis, query?: string): MetricReading {
  const spec = scenario.metrics[metric];
  if (spec === undefined) return { status: 'no-data', query };
  if (typeof spec === 'number') return constantReading(scenario, metric, spec, query);
  const t = offsetMs;
  // The last segment that covers t wins, so later segments override earlier ones.
  let found: z.infer<typeof Segment> | undefined;
  for (const seg of spec) {
    const [from, to] = spanOf(seg);
    if (t >= from && t < to) found = seg;
  }
  if (!found) return { status: 'no-data', query };
  if (found.gap) return { status: 'no-data', query };
  if (found.error !== undefined) return { status: 'error', detail: found.error, query };
  if (found.invalid !== undefined) return { status: 'invalid', detail: found.invalid, query };
  const samples = found.samples;
  if (found.ramp) {
    const from = offset(found.from);
    const to = found.to === undefined ? from + 1 : offset(found.to);
    const fraction = Math.min(1, Math.max(0, (t - from) / Math.max(1, to - from)));
    return { status: 'ok', value: found.ramp[0] + (found.ramp[1] - found.ramp[0]) * fraction, samples, query };
  }
  if (found.noise) {
    return { status: 'ok', value: found.noise.mean + found.noise.stdDev * gaussian(found.noise.seed, Math.floor(t / 1000)), samples, query };
  }
  return found.value === undefined ? { status: 'no-data', query } : { status: 'ok', value: found.value, samples, query };
}

/** A standard normal deviate that depends only on (seed, index): no state, so any reader gets the same value. */
function gaussian(seed: number, index: number): number {
  const u1 = Math.max(1e-12, hashUnit(seed, index * 2));
  const u2 = hashUnit(seed, index * 2 + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

function hashUnit(seed: number, n: number): number {
  // mulberry32-style mixing of (seed, n)
  let x = (seed ^ Math.imul(n, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  x ^= x >>> 15;
  return (x >>> 0) / 4294967296;
}

/** The scenario's timed events as machine events for a rollout started at `start`, in time order. */
export function scenarioEvents(scenario: Scenario, start = scenarioStart(scenario)): RolloutEvent[] {
  return scenario.events
    .map((e, i): RolloutEvent => {
      const at = start + offset(e.at);
      const id = `scenario-${i}`;
      if ('approve' in e) return { type: 'approval', at, id, decision: 'approve', ...e.approve };
      if ('reject' in e) return { type: 'approval', at, id, decision: 'reject', ...e.reject };
      if ('attest' in e) return { type: 'attestation', at, id, ...e.attest };
      if ('report' in e) return { type: 'report-value', at, id, ...e.report };
      if ('consumeToken' in e) return { type: 'consume-token', at, id, ...e.consumeToken };
      if ('incident' in e) return { type: 'incident', at, ...e.incident, id: e.incident.id ?? id };
      if ('alert' in e) return { type: 'alert', at, id, ...e.alert };
      if ('spend' in e) return { type: 'spend', at, id, ...e.spend };
      if ('taskResult' in e) return { type: 'task-result', at, ...e.taskResult };
      return { type: 'operator', at, id, ...e.operator };
    })
    .map((event, index) => ({ event, index }))
    .sort((a, b) => a.event.at - b.event.at || a.index - b.index)
    .map(({ event }) => event);
}
