/**
 * Invalid plans, one mistake each: every plan must give exactly one issue, on the line of the mistake, with the path
 * and a message that says what was expected. Each plan is HEADER (valid, 23 lines) followed by a body; `body(n)` is
 * the n-th line of the body, `header(n)` a line of the header.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlanFile, parsePlanText, type PlanIssue } from '../../src/plan/load';

const HEADER = `apiVersion: canary/v1
id: demo
name: Demo rollout
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
  error_rate: { source: prom, query: "errors", unit: ratio }
roles:
  cfo: { members: [cfo@example.com] }
  ceo: { members: [ceo@example.com], signatureRequired: true }
channels:
  releases: { type: slack, webhookUrlEnv: SLACK_WEBHOOK_URL }
checks:
  - name: ci-green
    when: { kind: command, run: "npm test" }
`;
const HEADER_LINES = HEADER.split('\n').length - 1;
const header = (n: number) => n;
const body = (n: number) => HEADER_LINES + n;

/** Two phases that are valid on their own; cases append to or replace them. */
const PHASES = `phases:
  - name: canary
    percent: 10
    minDuration: 1h
  - name: full
    percent: 100
`;

const TOO_DEEP = 'the plan nests lists and mappings more than 64 levels deep here; a plan needs about ten';

/** `levels` lines, each indented one space more than the last: mappings (`a:`) or lists (`-`) nested that deep. */
function blockNesting(levels: number, item: string): string {
  return `${Array.from({ length: levels }, (_, i) => ' '.repeat(i) + item).join('\n')} 1\n`;
}

interface Case {
  name: string;
  /** The text after HEADER. */
  body: string;
  /** Replacements applied to HEADER (line count unchanged). */
  headerEdits?: Array<[string, string]>;
  /** The whole document instead of HEADER + body. */
  document?: string;
  line: number | undefined;
  path: string;
  message: string;
}

const cases: Case[] = [
  {
    name: 'a phase duration written in words',
    body: `phases:
  - name: canary
    percent: 10
    minDuration: five minutes
`,
    line: body(4),
    path: 'phases[0].minDuration',
    message: 'expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got "five minutes"',
  },
  {
    name: 'a gate window without a unit',
    body: `${PHASES}    gates:
      - name: latency
        when:
          kind: threshold
          metric: p95_latency_ms
          op: "<="
          value: 500
          window: "5"
`,
    line: body(14),
    path: 'phases[1].gates[0].when.window',
    message: 'expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got "5"',
  },
  {
    name: 'a misspelt field, with a suggestion',
    body: `phases:
  - name: canary
    percent: 10
    minDuraton: 1h
`,
    line: body(4),
    path: 'phases[0].minDuraton',
    message: 'unknown field "minDuraton" — did you mean "minDuration"?',
  },
  {
    name: 'an unknown field with no close match, listing the known ones',
    body: `phases:
  - name: canary
    percent: 10
    cohorts:
      - name: beta
        colour: blue
`,
    line: body(6),
    path: 'phases[0].cohorts[0].colour',
    message: 'unknown field "colour" (expected one of name, percent, segment)',
  },
  {
    name: 'a condition of an unknown kind',
    body: `${PHASES}    gates:
      - name: latency
        when: { kind: treshold, metric: p95_latency_ms, op: "<=", value: 500 }
`,
    line: body(9),
    path: 'phases[1].gates[0].when.kind',
    message:
      'expected kind to be one of threshold, relative, anomaly, freshness, absence, incidents, diff, value, attestation, approval, http, command, alert, budget, got "treshold"',
  },
  {
    name: 'a gate on an undeclared metric',
    body: `${PHASES}    gates:
      - name: latency
        when:
          kind: threshold
          metric: p99_latency_ms
          op: "<="
          value: 500
`,
    line: body(11),
    path: 'phases[1].gates[0].when.metric',
    message: 'metric "p99_latency_ms" is not declared (declared: p95_latency_ms, error_rate)',
  },
  {
    name: 'an approval by an undeclared role',
    body: `${PHASES}    approvals:
      - role: cto
`,
    line: body(8),
    path: 'phases[1].approvals[0].role',
    message: 'role "cto" is not declared (declared: cfo, ceo)',
  },
  {
    name: 'a trigger notifying an undeclared channel',
    body: `${PHASES}triggers:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.02, for: 5m }
    action: rollback
    notify: [releases, pager]
`,
    line: body(11),
    path: 'triggers[0].notify[1]',
    message: 'channel "pager" is not declared (declared: releases)',
  },
  {
    name: 'a phase staying until an undeclared check',
    body: `phases:
  - name: prelaunch
    percent: 0
    until: [wf9-complete]
  - name: full
    percent: 100
`,
    line: body(4),
    path: 'phases[0].until[0]',
    message: 'check "wf9-complete" is not declared (declared: ci-green)',
  },
  {
    name: 'a token before an undeclared phase',
    body: `${PHASES}tokens:
  - id: HITL-CEO-1
    role: ceo
    requires: [ci-green]
    before: ful
`,
    line: body(11),
    path: 'tokens[0].before',
    message: 'phase "ful" is not declared (declared: canary, full)',
  },
  {
    name: 'a budget condition on an undeclared budget',
    body: `${PHASES}    gates:
      - name: spend
        when: { kind: budget, budget: canary-spend }
`,
    line: body(9),
    path: 'phases[1].gates[0].when.budget',
    message: 'budget "canary-spend" is not declared',
  },
  {
    name: 'a config change in an undeclared flag provider',
    body: `${PHASES}    configChanges:
      - key: stripe.mode
        from: test
        to: live
        provider: unleash
`,
    line: body(11),
    path: 'phases[1].configChanges[0].provider',
    message: 'flag provider "unleash" is not declared (declared: flagd)',
  },
  {
    name: 'a metric from an undeclared metric source',
    body: PHASES,
    headerEdits: [['{ source: prom, query: "errors"', '{ source: datadog, query: "errors"']],
    line: header(15),
    path: 'metrics.error_rate.source',
    message: 'metric source "datadog" is not declared (declared: prom)',
  },
  {
    name: 'traffic that decreases',
    body: `phases:
  - name: half
    percent: 50
  - name: quarter
    percent: 25
`,
    line: body(5),
    path: 'phases[1].percent',
    message: 'traffic must increase from phase to phase: 25% follows 50% (set allowDecreasingPercent: true if intended)',
  },
  {
    name: 'a gate that needs more data than its phase lasts',
    body: `phases:
  - name: canary
    percent: 10
    minDuration: 10m
    gates:
      - name: latency
        when:
          kind: threshold
          metric: p95_latency_ms
          op: "<="
          value: 500
          window: 5m
          consecutiveWindows: 3
`,
    line: body(12),
    path: 'phases[0].gates[0].when.window',
    message: "needs 15m of data, longer than the phase's minimum duration 10m",
  },
  {
    name: 'a shared gate that does not fit a short phase',
    body: `gates:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, for: 2h }
${PHASES}`,
    line: body(3),
    path: 'gates[0].when',
    message: 'gate "errors" needs 2h of data but phase "canary" lasts at least only 1h; it would hold the phase past its minimum',
  },
  {
    name: 'a quorum larger than the role',
    body: `${PHASES}    approvals:
      - role: cfo
        quorum: 2
`,
    line: body(9),
    path: 'phases[1].approvals[0].quorum',
    message: 'quorum 2 can never be reached: role "cfo" has 1 member(s)',
  },
  {
    name: 'a phase after a permanent one',
    body: `phases:
  - name: ga
    percent: 50
    permanent: true
  - name: full
    percent: 100
`,
    line: body(5),
    path: 'phases[1].name',
    message: 'phase "full" can never be reached: phase "ga" before it is permanent',
  },
  {
    name: 'a maximum duration shorter than the minimum',
    body: `phases:
  - name: beta
    percent: 25
    minDuration: 72h
    maxDuration: 48h
`,
    line: body(5),
    path: 'phases[0].maxDuration',
    message: 'phase "beta" can never be completed: maxDuration 48h is shorter than minDuration 72h',
  },
  {
    name: 'a condition with both "for" and consecutiveWindows',
    body: `${PHASES}triggers:
  - name: latency
    when:
      kind: threshold
      metric: p95_latency_ms
      op: ">="
      value: 600
      window: 5m
      for: 10m
      consecutiveWindows: 2
    action: hold
`,
    line: body(16),
    path: 'triggers[0].when.consecutiveWindows',
    message: 'use either "for" or "consecutiveWindows", not both',
  },
  {
    name: 'consecutive windows of no stated length',
    body: `${PHASES}triggers:
  - name: latency
    when:
      kind: threshold
      metric: p95_latency_ms
      op: ">="
      value: 600
      consecutiveWindows: 3
    action: hold
`,
    line: body(9),
    path: 'triggers[0].when.window',
    message: 'required with consecutiveWindows: the length of each window, e.g. "5m"',
  },
  {
    name: 'hold settings on a rollback trigger',
    body: `${PHASES}triggers:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.02 }
    action: rollback
    hold:
      decidedBy: [ceo]
`,
    line: body(11),
    path: 'triggers[0].hold',
    message: 'hold settings apply only to action "hold", not "rollback"',
  },
  {
    name: 'a periodic task without its period',
    body: `${PHASES}    tasks:
      - name: snapshot
        on: every
        run: { type: snapshot }
`,
    line: body(8),
    path: 'phases[1].tasks[0].every',
    message: 'required with on: every — how often the task runs, e.g. "15m"',
  },
  {
    name: 'a daily task without its time',
    body: `${PHASES}    tasks:
      - name: health
        on: daily
        run: { type: manual }
`,
    line: body(8),
    path: 'phases[1].tasks[0].at',
    message: 'required with on: daily — the time of day, e.g. "09:00"',
  },
  {
    name: 'a period on a task that runs on entry',
    body: `${PHASES}    tasks:
      - name: snapshot
        every: 15m
        run: { type: snapshot }
`,
    line: body(8),
    path: 'phases[1].tasks[0].on',
    message: '"every" is set, so on must be "every", got "enter"',
  },
  {
    name: 'credentials written into a metric source URL',
    body: PHASES,
    headerEdits: [['http://prometheus:9090', 'http://admin:hunter2@prometheus:9090']],
    line: header(10),
    path: 'providers.metrics.prom.url',
    message: 'credentials must not be written into a URL; name the environment variable that holds them (e.g. auth.bearerTokenEnv)',
  },
  {
    name: 'a token in a URL query',
    body: PHASES,
    headerEdits: [['http://prometheus:9090', 'http://prometheus:9090/?api_token=abc']],
    line: header(10),
    path: 'providers.metrics.prom.url',
    message: 'the query parameter "api_token" looks like a secret; name the environment variable that holds it instead',
  },
  {
    name: 'a secret where the name of its environment variable belongs',
    body: PHASES,
    headerEdits: [['webhookUrlEnv: SLACK_WEBHOOK_URL', 'webhookUrlEnv: "https://hooks.slack.com/T0/B0/x"']],
    line: header(20),
    path: 'channels.releases.webhookUrlEnv',
    message: 'expected the NAME of an environment variable (A-Z, 0-9, _), not the secret itself, got "https://hooks.slack.com/T0/B0/x"',
  },
  {
    name: 'two phases with the same name',
    body: `phases:
  - name: canary
    percent: 10
  - name: canary
    percent: 100
`,
    line: body(4),
    path: 'phases[1].name',
    message: 'duplicate phase name "canary" (first at phases[0])',
  },
  {
    name: 'two tokens with the same id',
    body: `${PHASES}tokens:
  - { id: T-1, role: ceo, requires: [ci-green] }
  - { id: T-1, role: cfo, requires: [ci-green] }
`,
    line: body(9),
    path: 'tokens[1].id',
    message: 'duplicate token id "T-1" (first at tokens[0])',
  },
  {
    name: 'a YAML syntax error',
    body: `${PHASES}triggers:
  - name: errors
    when: kind: threshold
`,
    line: body(9),
    path: '',
    message: 'not valid YAML: Nested mappings are not allowed in compact mappings',
  },
  {
    name: 'a document that is a list, not a mapping',
    body: '',
    document: '- name: canary\n  percent: 10\n',
    line: 1,
    path: '',
    message: 'expected a plan: a mapping with apiVersion, id, name, target, providers and phases',
  },
  {
    name: 'more than 100 percent',
    body: `phases:
  - name: canary
    percent: 150
`,
    line: body(3),
    path: 'phases[0].percent',
    message: 'a percentage cannot exceed 100, got 150',
  },
  {
    name: 'a plan without phases',
    body: 'phases: []\n',
    line: body(1),
    path: 'phases',
    message: 'expected at least 1 item(s), got 0',
  },
  {
    name: 'a time of day past midnight',
    body: `phases:
  - name: canary
    percent: 10
    calendar:
      endOfDay: "25:00"
`,
    line: body(5),
    path: 'phases[0].calendar.endOfDay',
    message: 'expected a time of day such as "09:00" or "18:30", got "25:00"',
  },
  {
    name: 'afterFull on a plan that stops short of 100%',
    body: `phases:
  - name: canary
    percent: 10
  - name: half
    percent: 50
afterFull:
  stabilization: { duration: 7d }
`,
    line: body(6),
    path: 'afterFull',
    message: 'afterFull applies after 100%, but the last phase "half" is at 50%',
  },
  {
    name: 'an incidents condition with no counts',
    body: `${PHASES}triggers:
  - name: sev1
    when: { kind: incidents, within: 48h }
    action: rollback
`,
    line: body(9),
    path: 'triggers[0].when',
    message: 'an incidents condition needs atMost or atLeast',
  },
  {
    name: 'a phase without its percent',
    body: `phases:
  - name: canary
    minDuration: 1h
`,
    line: body(2),
    path: 'phases[0].percent',
    message: 'required: expected number',
  },
  {
    name: 'a percent written as a word',
    body: `phases:
  - name: canary
    percent: ten
`,
    line: body(3),
    path: 'phases[0].percent',
    message: 'expected number, got "ten"',
  },
  {
    name: 'an approval at an unknown moment',
    body: `${PHASES}    approvals:
      - role: cfo
        at: start
`,
    line: body(9),
    path: 'phases[1].approvals[0].at',
    message: 'expected "enter" | "exit", got "start"',
  },
  {
    name: 'an unsupported apiVersion',
    body: PHASES,
    headerEdits: [['apiVersion: canary/v1', 'apiVersion: canary/v2']],
    line: header(1),
    path: 'apiVersion',
    message: 'unknown plan format version "canary/v2": this canary reads "canary/v1" plans; write the plan for canary/v1',
  },
  {
    name: 'an allowed window that is empty',
    body: `phases:
  - name: canary
    percent: 10
    calendar:
      allowedWindows:
        - { from: "09:00", to: "09:00" }
`,
    line: body(6),
    path: 'phases[0].calendar.allowedWindows[0]',
    message: 'an empty window (09:00–09:00): the phase could never change inside it',
  },
  {
    name: 'a per-cohort flag pattern without {name}',
    body: `${PHASES}controls:
  cohortFlag: canary.cohort.enabled
`,
    line: body(8),
    path: 'controls.cohortFlag',
    message: 'a per-cohort flag pattern must contain {name}, got "canary.cohort.enabled"',
  },
  {
    name: 'a phase using a shared gate that is not declared',
    body: `${PHASES}    useGates: [latency]
`,
    line: body(7),
    path: 'phases[1].useGates[0]',
    message: 'gate "latency" is not declared under gates',
  },
  {
    name: 'a stabilization shorter than its own minimum',
    body: `${PHASES}afterFull:
  stabilization:
    duration: 12h
    minDuration: 24h
`,
    line: body(10),
    path: 'afterFull.stabilization.minDuration',
    message: 'minDuration 24h is longer than duration 12h',
  },
  {
    name: 'an escalation to nobody declared',
    body: `${PHASES}    approvals:
      - role: ceo
        escalate: { after: 2h, to: [board] }
`,
    line: body(9),
    path: 'phases[1].approvals[0].escalate.to[0]',
    message: '"board" is neither a declared channel nor a declared role',
  },
  {
    name: 'a key written twice',
    body: `phases:
  - name: canary
    percent: 10
    percent: 20
`,
    line: body(4),
    path: '',
    message: 'not valid YAML: Map keys must be unique',
  },
  {
    name: 'a name with spaces',
    body: `phases:
  - name: canary one
    percent: 10
`,
    line: body(2),
    path: 'phases[0].name',
    message: 'expected a name of letters, digits, "_", "-", "." or ":", starting with a letter, got "canary one"',
  },
  {
    name: 'a hold timeout written in words',
    body: `${PHASES}triggers:
  - name: sev2
    when: { kind: incidents, atLeast: { sev2: 2 } }
    action: hold
    hold: { decidedBy: [ceo], timeout: an hour, default: rollback }
`,
    line: body(11),
    path: 'triggers[0].hold.timeout',
    message: 'expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got "an hour"',
  },
  {
    name: 'a baseline captured at an unknown moment',
    body: `${PHASES}triggers:
  - name: latency
    when:
      kind: relative
      metric: p95_latency_ms
      op: ">"
      factor: 1.1
      baseline:
        capture: before-launch
    action: hold
`,
    line: body(15),
    path: 'triggers[0].when.baseline.capture',
    message: 'expected "before-rollout" | "phase-start", got "before-launch"',
  },
  {
    name: 'a baseline of no known form',
    body: `${PHASES}triggers:
  - name: latency
    when:
      kind: relative
      metric: p95_latency_ms
      op: ">"
      factor: 1.1
      baseline:
        captured: before-rollout
    action: hold
`,
    line: body(14),
    path: 'triggers[0].when.baseline',
    message: 'expected { metric } or { capture } or { value }, got {"captured":"before-rollout"}',
  },
  {
    name: 'a metric declared under a name with spaces',
    body: PHASES,
    headerEdits: [['  error_rate: { source: prom', '  error rate: { source: prom']],
    line: header(15),
    path: 'metrics.error rate',
    message: 'expected a name of letters, digits, "_", "-", "." or ":", starting with a letter, got "error rate"',
  },
  {
    name: 'a threshold without its comparison',
    body: `${PHASES}    gates:
      - name: errors
        when:
          kind: threshold
          metric: error_rate
          value: 0.01
`,
    line: body(9),
    path: 'phases[1].gates[0].when.op',
    message: 'required: expected "<" | "<=" | ">" | ">=" | "==" | "!="',
  },
  {
    name: 'zero consecutive windows',
    body: `${PHASES}    gates:
      - name: errors
        when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, window: 5m, consecutiveWindows: 0 }
`,
    line: body(9),
    path: 'phases[1].gates[0].when.consecutiveWindows',
    message: 'expected at least 1, got 0',
  },
  {
    name: 'a list used as a key',
    body: `${PHASES}[gates, triggers]: []
`,
    line: body(7),
    path: '',
    message: 'a key must be a name, not a list or a mapping',
  },
  {
    name: 'a misspelt required field, reported once with its suggestion',
    body: `phases:
  - name: canary
    percnt: 10
`,
    line: body(3),
    path: 'phases[0].percnt',
    message: 'unknown field "percnt" — did you mean "percent"?',
  },
  {
    name: 'a mistake in a JSON plan, placed on its line',
    body: '',
    document: `{
  "apiVersion": "canary/v1",
  "id": "demo",
  "name": "Demo",
  "target": { "flags": ["checkout.v2"], "provider": "flagd", "environment": "prod" },
  "providers": { "flags": { "flagd": { "type": "flagd-file", "path": "flags.json" } } },
  "phases": [
    { "name": "canary", "percent": 10 },
    { "name": "full", "percent": 100, "minDuration": "soon" }
  ]
}
`,
    line: 9,
    path: 'phases[1].minDuration',
    message: 'expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got "soon"',
  },
  // --- durations a plan can run with (a zero window or interval would make the rollout loop without advancing time)
  {
    name: 'a consecutive-windows gate with a zero window',
    body: `${PHASES}    gates:
      - name: errors
        when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, window: 0s, consecutiveWindows: 2 }
`,
    line: body(9),
    path: 'phases[1].gates[0].when.window',
    message: 'expected a duration of at least 1s, got "0s"',
  },
  {
    name: 'a window that rounds to zero milliseconds',
    body: `${PHASES}triggers:
  - name: latency
    when: { kind: threshold, metric: p95_latency_ms, op: ">", value: 800, window: 0.4ms, consecutiveWindows: 3 }
    action: hold
`,
    line: body(9),
    path: 'triggers[0].when.window',
    message: 'expected a duration of at least 1s, got "0.4ms"',
  },
  {
    name: 'an analysis interval of zero',
    body: `analysis:
  interval: 0s
${PHASES}`,
    line: body(2),
    path: 'analysis.interval',
    message: 'expected a duration of at least 1s, got "0s"',
  },
  {
    name: 'a condition evaluated every zero seconds',
    body: `${PHASES}triggers:
  - name: errors
    when: { kind: threshold, metric: error_rate, op: ">=", value: 0.02, for: 5m,
            interval: 0ms }
    action: rollback
`,
    line: body(10),
    path: 'triggers[0].when.interval',
    message: 'expected a duration of at least 1s, got "0ms"',
  },
  {
    name: 'a task repeated every zero seconds',
    body: `${PHASES}    tasks:
      - name: snapshot
        on: every
        every: 0s
        run: { type: snapshot }
`,
    line: body(10),
    path: 'phases[1].tasks[0].every',
    message: 'expected a duration of at least 1s, got "0s"',
  },
  {
    name: 'a command check that times out at once',
    body: PHASES,
    headerEdits: [['when: { kind: command, run: "npm test" }', 'when: { kind: command, run: "npm test", timeout: 0s }']],
    line: header(23),
    path: 'checks[0].when.timeout',
    message: 'expected a duration of at least 100ms, got "0s"',
  },
  {
    name: 'an anomaly condition with no history to look back over',
    body: `${PHASES}triggers:
  - name: latency
    when: { kind: anomaly, metric: p95_latency_ms, sigma: 3, lookback: 0s }
    action: alert
`,
    line: body(9),
    path: 'triggers[0].when.lookback',
    message: 'expected a duration of at least 1s, got "0s"',
  },
  {
    name: 'an approval that expires as soon as it is given',
    body: `${PHASES}    approvals:
      - role: cfo
        expiresAfter: 0s
`,
    line: body(9),
    path: 'phases[1].approvals[0].expiresAfter',
    message: 'expected a duration of at least 1s, got "0s"',
  },
  {
    name: 'a phase longer than 366 days',
    body: `phases:
  - name: canary
    percent: 10
    minDuration: 400d
`,
    line: body(4),
    path: 'phases[0].minDuration',
    message: 'expected a duration of at most 366d, got "400d"',
  },
  {
    name: 'a duration forty digits long',
    body: `phases:
  - name: canary
    percent: 10
    minDuration: ${'9'.repeat(40)}d
`,
    line: body(4),
    path: 'phases[0].minDuration',
    message: `expected a duration of at most 366d, got "${'9'.repeat(40)}d"`,
  },
  {
    name: 'a duration hundreds of digits long',
    body: `phases:
  - name: canary
    percent: 10
    minDuration: ${'9'.repeat(400)}d
`,
    line: body(4),
    path: 'phases[0].minDuration',
    message: `expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got "${'9'.repeat(56)}…`,
  },
  {
    name: 'more than 1000 consecutive windows',
    body: `${PHASES}triggers:
  - name: latency
    when: { kind: threshold, metric: p95_latency_ms, op: ">", value: 800, window: 1s, consecutiveWindows: 1001 }
    action: hold
`,
    line: body(9),
    path: 'triggers[0].when.consecutiveWindows',
    message: 'expected at most 1000, got 1001',
  },
  {
    name: 'consecutive windows that need more than 366 days of data',
    body: `${PHASES}triggers:
  - name: latency
    when:
      kind: threshold
      metric: p95_latency_ms
      op: ">"
      value: 800
      window: 1d
      consecutiveWindows: 400
    action: hold
`,
    line: body(15),
    path: 'triggers[0].when.consecutiveWindows',
    message: '400 windows of 1d need 400d of data, more than 366d; use fewer or shorter windows',
  },
  // --- text the loader refuses before anything recursive reads it (each used to end in "Maximum call stack size exceeded")
  {
    name: 'lists nested 1,000 levels deep in flow style',
    body: `${PHASES}    tasks: ${'['.repeat(1000)}${']'.repeat(1000)}
`,
    line: body(7),
    path: `phases[1].tasks${'[0]'.repeat(9)}…`,
    message: TOO_DEEP,
  },
  {
    name: 'mappings nested 1,000 levels deep in flow style',
    body: `${PHASES}    tasks: ${'{a: '.repeat(1000)}1${'}'.repeat(1000)}
`,
    line: body(7),
    path: `phases[1].tasks${'.a'.repeat(9)}…`,
    message: TOO_DEEP,
  },
  {
    name: 'mappings nested 1,000 levels deep in block style',
    body: '',
    document: blockNesting(1000, 'a:'),
    line: 65,
    path: `a${'.a'.repeat(11)}…`,
    message: TOO_DEEP,
  },
  {
    name: 'lists nested 1,000 levels deep in block style',
    body: '',
    document: blockNesting(1000, '-'),
    line: 65,
    path: `${'[0]'.repeat(12)}…`,
    message: TOO_DEEP,
  },
  {
    name: 'lists nested 10,000 levels deep on one line',
    body: `${PHASES}    tasks:
      ${'- '.repeat(10_000)}x
`,
    line: body(8),
    path: '',
    message: 'more than 128 indicators ("- ", "? ", ": ") or anchors and tags in a row on one line; a plan needs a few',
  },
  {
    name: 'pairs in flow lists nested 40 levels deep, each a mapping of its own',
    body: `${PHASES}    tasks: ${'[a: '.repeat(40)}1${']'.repeat(40)}
`,
    line: body(7),
    path: 'phases[1].tasks[0].a[0].a[0].a[0].a[0]…',
    message: TOO_DEEP,
  },
  {
    name: 'lists nested deeper than 64 levels through a chain of aliases',
    body: '',
    document: ['a0: &a0 [1]', ...Array.from({ length: 99 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}]`)].join('\n'),
    line: 64,
    path: 'a63[0]',
    message: `with the alias *a62 expanded, ${TOO_DEEP}`,
  },
  {
    name: 'a plan larger than 1 MiB',
    body: `${PHASES}    description: "${'x'.repeat(1_100_000)}"
`,
    line: body(7),
    path: '',
    message: 'a plan may be at most 1024 KiB (1048576 bytes); the text passes that here',
  },
  {
    name: 'a plan of more than 100,000 values',
    body: `${PHASES}    cohorts: [${Array(100_001).fill('1').join(',')}]
`,
    line: body(7),
    path: 'phases[1].cohorts[99899]',
    message: 'the plan has more than 100000 values; a plan needs a few thousand',
  },
  {
    name: 'aliases that expand to more than 100,000 values',
    body: '',
    document: ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n'),
    line: 5,
    path: 'e[7]',
    message: 'with the alias *d expanded, the plan has more than 100000 values; a plan needs a few thousand',
  },
  {
    name: 'an alias inside the value it names',
    body: `${PHASES}    tasks: &runbook [{ name: again, run: { type: snapshot } }, *runbook]
`,
    line: body(7),
    path: 'phases[1].tasks[1]',
    message: 'the alias *runbook is inside the value anchored as &runbook: it would repeat without end',
  },
  {
    name: 'an alias without an anchor',
    body: `${PHASES}    tasks: *runbook
`,
    line: body(7),
    path: 'phases[1].tasks',
    message: 'the alias *runbook has no anchor &runbook before it',
  },
  {
    name: 'an anchor aliased more than 100 times, placed on the first alias',
    body: `${PHASES}    description: &why speed
    cohorts:
      - { name: a, segment: *why }
      - { name: b, segment: [${Array(100).fill('*why').join(', ')}] }
`,
    line: body(9),
    path: '',
    message: 'not valid YAML: Excessive alias count indicates a resource exhaustion attack',
  },
  {
    name: 'more than 1,000 aliases',
    body: `${PHASES}    description: &why speed
    cohorts: [${Array(1_001).fill('*why').join(', ')}]
`,
    line: body(8),
    path: 'phases[1].cohorts[1000]',
    message: 'the plan has more than 1000 aliases; a plan needs a few',
  },
  {
    name: 'more than 1,000 anchors',
    body: `${PHASES}    cohorts: [${Array.from({ length: 1_001 }, (_, i) => `&a${i} x`).join(', ')}]
`,
    line: body(7),
    path: 'phases[1].cohorts[1000]',
    message: 'the plan has more than 1000 anchors; a plan needs a few',
  },
  {
    name: 'two documents in one plan',
    body: `${PHASES}---
${PHASES}`,
    line: body(7),
    path: '',
    message: 'not valid YAML: a plan is one document, but a second one starts here',
  },
];

function documentOf(c: Case): string {
  if (c.document !== undefined) return c.document;
  let head = HEADER;
  for (const [from, to] of c.headerEdits ?? []) {
    expect(head).toContain(from);
    head = head.replace(from, to);
  }
  return head + c.body;
}

test('the header and the shared phases make a valid plan on their own', () => {
  const result = parsePlanText(HEADER + PHASES, 'plans/demo.yaml');
  expect(result.ok ? [] : result.issues).toEqual([]);
});

test('there are at least 30 distinct invalid plans', () => {
  expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  expect(cases.length).toBeGreaterThanOrEqual(30);
});

describe('an invalid plan gives exactly one issue with its line, path and message', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = parsePlanText(documentOf(c), 'plans/demo.yaml');
    const issues: PlanIssue[] = result.ok ? [] : result.issues;
    expect(issues).toEqual([{ file: 'plans/demo.yaml', line: c.line, path: c.path, message: c.message }]);
  });
});

test('a plan of another format version is refused as a whole, with one issue, however different the rest of it is', () => {
  const result = parsePlanText('id: demo\napiVersion: canary/v2\nstages:\n  - { name: canary, traffic: 10 }\n', 'plans/next.yaml');
  expect(result.ok ? [] : result.issues).toEqual([
    {
      file: 'plans/next.yaml',
      line: 2,
      path: 'apiVersion',
      message: 'unknown plan format version "canary/v2": this canary reads "canary/v1" plans; write the plan for canary/v1',
    },
  ]);
});

test('a plan without apiVersion is told to name it, beside its other problems', () => {
  const result = parsePlanText(HEADER.replace('apiVersion: canary/v1\n', '') + PHASES.replace('percent: 10', 'percent: 110'), 'plans/demo.yaml');
  expect(result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
    'apiVersion: required: expected "canary/v1"',
    'phases[0].percent: a percentage cannot exceed 100, got 110',
  ]);
});

test('two unknown fields in one mapping are each reported on their own line', () => {
  const result = parsePlanText(
    `${HEADER}phases:
  - name: canary
    percent: 10
    colour: blue
    flavour: mint
`,
    'plans/demo.yaml',
  );
  const issues = result.ok ? [] : result.issues;
  expect(issues.map(({ line, path }) => ({ line, path }))).toEqual([
    { line: body(4), path: 'phases[0].colour' },
    { line: body(5), path: 'phases[0].flavour' },
  ]);
  expect(issues[0]?.message).toMatch(/^unknown field "colour" \(expected one of name, description, percent, /);
});

test('a plan file over 1 MiB is refused on the line where it passes the limit, without being read whole', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'canary-plan-'));
  try {
    const file = join(dir, 'huge.yaml');
    // 8 MiB: a plan, then comment lines.
    const text = `${HEADER}${PHASES}${'# padding\n'.repeat(800_000)}`;
    await writeFile(file, text);
    const result = await loadPlanFile(file);
    expect(result).toEqual({
      ok: false,
      file,
      issues: [{ file, line: text.slice(0, 1024 * 1024 + 1).split('\n').length, path: '', message: 'a plan may be at most 1024 KiB (1048576 bytes); the text passes that here' }],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// The two tests below once took minutes (quadratic work in the loader and the yaml library); now well under a second.
// No timed assertion: the test's own timeout catches a regression to quadratic time.
test('a mapping with 20,000 unknown fields is reported field by field', () => {
  const fields = Array.from({ length: 20_000 }, (_, i) => `    colour${i}: blue`).join('\n');
  const result = parsePlanText(`${HEADER}phases:\n  - name: canary\n    percent: 10\n${fields}\n`, 'plans/demo.yaml');
  const issues = result.ok ? [] : result.issues;
  expect(issues).toHaveLength(20_000);
  expect(issues[19_999]).toMatchObject({ line: body(3 + 20_000), path: 'phases[0].colour19999' });
  // Placing each issue used to search the whole mapping, and the yaml library compared every key with every earlier one.
}, 30_000);

test('10,000 aliases used as keys are refused', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `  ? *name\n  : ${i}`).join('\n');
  const result = parsePlanText(`${HEADER}${PHASES}labels: &name x\nby-name:\n${keys}\n`, 'plans/demo.yaml');
  expect(result.ok ? [] : result.issues).toEqual([
    // On the 1,001st alias: two lines per key, the first on body line 9.
    { file: 'plans/demo.yaml', line: body(9 + 2 * 1_000), path: 'by-name', message: 'the plan has more than 1000 aliases; a plan needs a few' },
  ]);
  // Each alias key used to be resolved by walking the whole document, and the yaml library resolves each alias by
  // scanning every one before it.
}, 30_000);
