/**
 * triggers.ts: metric and event triggers, and the rules that act like them (metric-source errors, the circuit
 * breaker, data missing too long). Each fires once per excursion; when several fire at one instant the most severe
 * acts first, and nothing acts after the rollout is finished or rolling back.
 */
import type { MetricReading } from '../../../src/domain/types';
import type { Plan } from '../../../src/plan/schema';
import { testPlan } from '../../helpers/test-plan';
import { MINUTE, commandsOf, incident, operator, readings, send, started, tick } from './helpers';

const ACTION_LINES = ['kill', 'rollback', 'revert-phase', 'hold', 'pause', 'alert'];
/** The decisions among ops-log lines, as their actions. */
const decisions = (lines: string[]) => lines.map((l) => l.split(':')[0] ?? '').filter((a) => ACTION_LINES.includes(a));

describe('several triggers firing at one instant act most severe first; none acts once the rollout is finished or rolling back', () => {
  /** One trigger per action, all on the same incident; the rollout is in its second phase (a has no minimum). */
  const planWith = (actions: string[]): Plan =>
    testPlan(
      `
triggers:
${actions.map((a) => `  - { name: t-${a}, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: ${a} }`).join('\n')}
phases:
  - { name: a, percent: 10 }
  - { name: b, percent: 50, minDuration: 10m }
  - { name: c, percent: 100 }
`,
      { id: 'severity' },
    );

  it.each<[string, string[], string[], { status: string; phase: number }]>([
    ['kill before rollback: killed, and the rollback never happens', ['rollback', 'kill'], ['kill'], { status: 'killed', phase: 1 }],
    ['rollback before abort: rolled back, not aborted', ['abort', 'rollback'], ['rollback'], { status: 'rolled_back', phase: 1 }],
    ['rollback before hold: the hold never happens', ['hold', 'rollback'], ['rollback'], { status: 'rolled_back', phase: 1 }],
    ['revert-phase before hold before alert: back one phase, then held there, then the alert', ['alert', 'hold', 'revert-phase'], ['revert-phase', 'hold', 'alert'], { status: 'holding', phase: 0 }],
    ['hold before alert: held, and the alert is still sent', ['alert', 'hold'], ['hold', 'alert'], { status: 'holding', phase: 1 }],
    ['pause before alert', ['alert', 'pause'], ['pause', 'alert'], { status: 'paused', phase: 1 }],
  ])('%s', (_rule, actions, expected, after) => {
    const p = planWith(actions);
    const state = started(p);
    expect(state.phaseIndex).toBe(1);
    const { lines } = send(p, state, incident(MINUTE, 'Sev-1'));
    expect(decisions(lines)).toEqual(expected);
    expect({ status: state.status, phase: state.phaseIndex }).toEqual(after);
  });

  // Fixed by rules v3; before (triggers.ts `triggerAction` 'pause'): a pause that fires with a more severe hold sets the status to `paused`
  // over the hold: the rollout shows "paused — canary resume" and its waits hide the hold's decider, deadline and
  // default (here a rollback in 5 minutes). The more severe stop should be the one that shows.
  it('a hold firing with a pause leaves the rollout holding, its deadline in view', () => {
    const p = testPlan(`
triggers:
  - { name: t-pause, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: pause }
  - { name: t-hold, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: hold, hold: { timeout: 5m, default: rollback } }
phases:
  - { name: a, percent: 10, minDuration: 10m }
  - { name: b, percent: 100 }
`);
    const state = started(p);
    send(p, state, incident(MINUTE, 'Sev-1'));
    expect(state.status).toBe('holding');
    expect(state.waits).toContainEqual(expect.objectContaining({ kind: 'hold', deadline: 6 * MINUTE, default: 'rollback' }));
  });
});

describe('a metric trigger', () => {
  const p = testPlan(
    `
triggers:
  - { name: errors, when: { kind: threshold, metric: error_rate, op: ">=", value: 0.05 }, action: alert }
  - { name: sustained, when: { kind: threshold, metric: p95, op: ">", value: 800, for: 2m }, action: alert }
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100 }
`,
    { id: 'metric-trigger', metrics: { error_rate: 'ratio', p95: 'ms' } },
  );
  /** The minutes at which `trigger` fired, for readings of `metric` taken one per minute from 1m. */
  const firings = (trigger: string, metric: string, values: Array<number | MetricReading>) => {
    const state = started(p);
    const at: number[] = [];
    values.forEach((v, i) => {
      const { lines } = send(p, state, readings((i + 1) * MINUTE, { [metric]: v }));
      if (lines.some((l) => l.startsWith(`alert: trigger ${trigger} fired`))) at.push(i + 1);
    });
    return at;
  };
  const noData: MetricReading = { status: 'no-data' };

  it.each<[string, string, string, Array<number | MetricReading>, number[]]>([
    ['fires once per excursion, not on every reading of it', 'errors', 'error_rate', [0.1, 0.1, 0.1], [1]],
    ['fires again on a new excursion once it has cleared', 'errors', 'error_rate', [0.1, 0.01, 0.1], [1, 3]],
    ['with `for`, fires on the reading that completes the duration exactly', 'sustained', 'p95', [900, 900, 900, 900], [3]],
    ['with `for`, a good reading starts the duration again', 'sustained', 'p95', [900, 900, 500, 900, 900, 900], [6]],
    ['with `for`, missing data neither confirms nor clears a breach', 'sustained', 'p95', [900, noData, 900], [3]],
    ['does not fire on missing data', 'errors', 'error_rate', [noData, noData, noData], []],
  ])('%s', (_rule, trigger, metric, values, expected) => {
    expect(firings(trigger, metric, values)).toEqual(expected);
  });
});

describe('an event trigger', () => {
  const p = testPlan(
    `
roles: { on-call: { members: [oncall@example.com] } }
channels: { pager: { type: log } }
triggers:
  - name: sev1
    when: { kind: incidents, atLeast: { Sev-1: 1 } }
    action: alert
    notify: [pager]
    tasks:
      - { name: triage, run: { type: manual, role: on-call } }
      - { name: dump, run: { type: command, command: ./dump.sh } }
phases:
  - { name: canary, percent: 10, minDuration: 1h, triggers: [{ name: two-sev2, when: { kind: incidents, atLeast: { Sev-2: 2 }, scope: phase }, action: alert }] }
  - { name: full, percent: 100, minDuration: 1h }
`,
    { id: 'event-trigger' },
  );

  it('fires on the event itself, tells its channels and starts its runbook', () => {
    const state = started(p);
    const { commands, lines } = send(p, state, incident(MINUTE, 'Sev-1', 'outage'));
    expect(lines).toContain('alert: trigger sev1 fired: incidents Sev-1: 1 (Sev-1 reached 1)');
    expect(commandsOf(commands, 'notify')).toContainEqual(expect.objectContaining({ event: 'trigger-fired', channels: ['pager'] }));
    expect(commandsOf(commands, 'run-task')).toEqual([{ type: 'run-task', task: 'dump', scope: 'trigger:sev1' }]);
    expect(lines).toContain('task: task triage assigned to on-call: triage');
  });

  it.each<[string, number[], string[]]>([
    ['of a phase fires in that phase', [MINUTE, 2 * MINUTE], ['alert: trigger two-sev2 fired: incidents Sev-2: 2 (Sev-2 reached 2)']],
    ['of a phase is not in force once the rollout has left it', [61 * MINUTE, 62 * MINUTE], []],
  ])('%s', (_rule, incidentsAt, expected) => {
    const state = started(p);
    // The first phase's minimum ends at 60m: incidents after it come in the next phase.
    if ((incidentsAt[0] ?? 0) > 60 * MINUTE) send(p, state, tick(60 * MINUTE));
    const lines = incidentsAt.flatMap((at) => send(p, state, incident(at, 'Sev-2')).lines);
    expect(lines.filter((l) => l.startsWith('alert:'))).toEqual(expected);
  });

  it('does not fire while the rollout is rolling back', () => {
    const verified = testPlan(`
roles: { sre: { members: [sre@example.com] } }
controls: { operators: [sre] }
triggers:
  - { name: sev1, when: { kind: incidents, atLeast: { Sev-1: 1 } }, action: kill }
rollback:
  verify: { within: 10m, checks: [{ name: calm, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }] }
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100 }
`);
    const state = started(verified);
    send(verified, state, operator(MINUTE, 'rollback', 'sre@example.com', 'sre', 'errors'));
    const { lines } = send(verified, state, incident(2 * MINUTE, 'Sev-1'));
    expect(decisions(lines)).toEqual([]);
    expect(state.status).toBe('rolling-back');
  });

  // Fixed by rules v3; before (triggers.ts `fireTriggers` returns before the first phase, and the event that enters the first phase
  // evaluates triggers before it enters): a rollout-wide rollback trigger whose alert is already firing does not stop
  // the rollout from entering its first phase — traffic reaches the canary, and the trigger fires only on some later
  // event. compiled-plan.ts says rollout-wide triggers are "in force before the first phase too".
  it('of the rollout, already firing before the first phase, keeps traffic off the canary', () => {
    const p2 = testPlan(`
checks:
  - { name: READY, when: { kind: value, name: READY, equals: 1 } }
preconditions: [READY]
triggers:
  - { name: security, when: { kind: alert, alert: SecurityIncident }, action: rollback }
phases:
  - { name: canary, percent: 10, minDuration: 10m }
  - { name: full, percent: 100 }
`);
    const state = started(p2);
    send(p2, state, { type: 'alert', at: MINUTE, id: 'sec-1', alert: 'SecurityIncident', status: 'firing' });
    send(p2, state, { type: 'report-value', at: 2 * MINUTE, id: 'ready', name: 'READY', value: 1, by: 'ops@example.com' });
    expect(state.percent).toBe(0);
    expect(state.outcome).toBe('rolled_back');
  });
});

describe('metric-source errors in a row', () => {
  const down: MetricReading = { status: 'error', detail: 'connection refused' };
  const p = (settings: string, controls = '{}'): Plan =>
    testPlan(
      `
analysis: { interval: 1m, ${settings} }
controls: ${controls}
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100 }
`,
      { id: 'source-errors' },
    );

  it.each<[string, Plan, string[]]>([
    ['at the limit take onError once, not again on the errors after it', p('consecutiveErrorLimit: 3, onError: alert'), ['3 alert']],
    ['at the breaker’s count take the breaker’s action, ahead of onError at the same count', p('consecutiveErrorLimit: 3, onError: alert', '{ circuitBreaker: { consecutiveErrors: 3, action: kill } }'), ['3 kill']],
    ['take onError and the breaker each at its own count', p('consecutiveErrorLimit: 2, onError: alert', '{ circuitBreaker: { consecutiveErrors: 4, action: pause } }'), ['2 alert', '4 pause']],
  ])('%s', (_rule, plan, expected) => {
    const state = started(plan);
    const fired: string[] = [];
    for (let m = 1; m <= 6 && !state.outcome; m++) {
      for (const action of decisions(send(plan, state, readings(m * MINUTE, { error_rate: down })).lines)) fired.push(`${m} ${action}`);
    }
    expect(fired).toEqual(expected);
  });

  it('say which metrics failed and that a failure never counts as a pass', () => {
    const plan = p('consecutiveErrorLimit: 1, onError: hold');
    const state = started(plan);
    const { lines } = send(plan, state, readings(MINUTE, { error_rate: down }));
    expect(lines).toContainEqual(expect.stringMatching(/^hold: HOLD: 1 consecutive metric source errors: error_rate \(connection refused\); a source failure never counts as a pass/));
  });
});

describe('the circuit breaker on the canary’s own errors', () => {
  const p = testPlan(`
controls: { circuitBreaker: { consecutiveErrors: 3, action: kill, when: { kind: threshold, metric: error_rate, op: ">", value: 0.01 } } }
phases:
  - { name: canary, percent: 10, minDuration: 1h }
  - { name: full, percent: 100 }
`);
  const noData: MetricReading = { status: 'no-data' };

  it.each<[string, Array<number | MetricReading>, string | undefined]>([
    ['trips on that many evaluations in a row in error', [0.5, 0.5, 0.5], 'killed'],
    ['an evaluation without the error resets the count', [0.5, 0.5, 0.001, 0.5, 0.5], undefined],
    ['an evaluation without data neither counts nor resets', [0.5, 0.5, noData, 0.5], 'killed'],
  ])('%s', (_rule, values, outcome) => {
    const state = started(p);
    values.forEach((v, i) => send(p, state, readings((i + 1) * MINUTE, { error_rate: v })));
    expect(state.outcome).toBe(outcome);
  });
});

describe('data missing longer than analysis.inconclusiveLimit', () => {
  /** A rollout whose first phase serves `percent` of traffic, with a gate that reads error_rate. */
  const p = (percent: number): Plan =>
    testPlan(
      `
analysis: { interval: 1m, inconclusiveLimit: 5m, onInconclusive: alert }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: first, percent: ${percent}, minDuration: 1h }
  - { name: full, percent: 100 }
`,
      { id: `inconclusive-${percent}` },
    );
  const noData: MetricReading = { status: 'no-data' };
  /** The alert lines for readings taken one per minute from 1m. */
  const alerts = (percent: number, values: Array<number | MetricReading>) => {
    const plan = p(percent);
    const state = started(plan, 0, { values: { error_rate: 0.001 } });
    return values.flatMap((v, i) => send(plan, state, readings((i + 1) * MINUTE, { error_rate: v })).lines.filter((l) => l.startsWith('alert:')).map((l) => `${i + 1}m ${l}`));
  };
  const missing = (n: number) => Array<MetricReading>(n).fill(noData);

  it('is not over the limit while missing exactly as long as the limit', () => {
    expect(alerts(10, missing(6))).toEqual([]);
  });

  it('takes onInconclusive on the first reading past the limit, saying for how long', () => {
    expect(alerts(10, missing(7))).toEqual(['7m alert: trigger inconclusive fired: gate first/errors-ok has had no usable data for 6m (limit 5m): error_rate: no data']);
  });

  it('takes it once per stretch of missing data, and again for a new stretch', () => {
    expect(alerts(10, [...missing(8), 0.001, ...missing(7)]).map((l) => l.split(' ')[0])).toEqual(['7m', '16m']);
  });

  it('is no reason to act while no traffic reaches the canary (a 0% phase)', () => {
    expect(alerts(0, missing(10))).toEqual([]);
  });
});
