/**
 * The plan-language commands of `canary`, run in-process: what a user sees and the exit code they get.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/main';
import type { PlanTimeline } from '../../src/plan/timeline';

const ROOT = resolve(__dirname, '..', '..');
const PLANS_DIR = join(ROOT, 'plans');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function canary(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

const THREE_PHASES = `apiVersion: canary/v1
id: checkout-v2
name: Checkout v2
runId: RUN-1
target: { flags: [checkout.v2], provider: flagd, environment: prod }
providers:
  metrics:
    prom: { type: prometheus, url: "http://prometheus:9090" }
  flags:
    flagd: { type: flagd-file, path: .canary/flags.json }
metrics:
  p95_latency_ms: { source: prom, query: "p95", unit: ms }
  error_rate: { source: prom, query: "errors", unit: "%" }
roles:
  cfo: { members: [cfo@example.com] }
  ceo: { members: [ceo@example.com], signatureRequired: true }
channels:
  releases: { type: slack, webhookUrlEnv: SLACK_WEBHOOK_URL }
checks:
  - name: shadow-pass
    when: { kind: value, name: SHADOW_PASS_24H, equals: 1 }
  - name: ci-green
    when: { kind: command, run: "npm test" }
preconditions: [ci-green]
tokens:
  - { id: HITL-CEO-1, role: ceo, requires: [shadow-pass] }
gates:
  - name: latency
    when: { kind: threshold, metric: p95_latency_ms, op: "<=", value: 500, window: 5m, consecutiveWindows: 3 }
triggers:
  - name: sev1
    when: { kind: incidents, atLeast: { sev1: 1 } }
    action: rollback
    notify: [releases]
phases:
  - name: canary
    percent: 5
    minDuration: 90m
    tasks:
      - { name: snapshot, on: every, every: 15m, run: { type: snapshot, metrics: [p95_latency_ms] } }
  - name: live
    percent: 25
    minDuration: 4h
    maxDuration: 8h
    approvals:
      - { role: cfo, reason: Stripe goes live }
    configChanges:
      - { key: stripe.mode, from: test, to: live }
    triggers:
      - name: errors
        when: { kind: threshold, metric: error_rate, op: ">=", value: 2, for: 5m }
        action: hold
        hold: { decidedBy: [ceo], timeout: 1h, default: rollback }
  - name: full
    percent: 100
    permanent: true
    approvals:
      - { role: ceo }
budgets:
  - { name: canary-spend, phases: [canary, live], limit: 300, cosign: { role: cfo } }
afterFull:
  stabilization: { duration: 7d, minDuration: 24h }
`;

const INVALID = THREE_PHASES.replace('    minDuration: 4h\n', '    minDuration: four hours\n').replace('      - { role: cfo,', '      - { rol: cfo,');

let dir: string;
let good: string;
let bad: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'canary-cli-'));
  good = join(dir, 'three-phases.yaml');
  bad = join(dir, 'invalid.yaml');
  writeFileSync(good, THREE_PHASES);
  writeFileSync(bad, INVALID);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('canary validate', () => {
  test('a valid plan prints one OK line and exits 0', async () => {
    const run = await canary('validate', good);
    expect(run).toEqual({ code: 0, stdout: `${good}: ok — plan checkout-v2, 3 phases\n`, stderr: '' });
  });

  test('an invalid plan prints each issue on its own line with line and path, and exits 2', async () => {
    const run = await canary('validate', bad);
    expect(run.code).toBe(2);
    expect(lines(run.stdout)).toEqual([
      `${bad}:43 phases[1].minDuration: expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got "four hours"`,
      `${bad}:46 phases[1].approvals[0].rol: unknown field "rol" — did you mean "role"?`,
    ]);
  });

  test('a cross-field issue is reported once the plan has the right shape', async () => {
    const file = join(dir, 'undeclared-role.yaml');
    writeFileSync(file, THREE_PHASES.replace('      - { role: cfo,', '      - { role: cto,'));
    const run = await canary('validate', file);
    expect(run.code).toBe(2);
    expect(lines(run.stdout)).toEqual([`${file}:46 phases[1].approvals[0].role: role "cto" is not declared (declared: cfo, ceo)`]);
  });

  test('several files: every file is reported and one bad file makes the exit code 2', async () => {
    const run = await canary('validate', good, bad);
    expect(run.code).toBe(2);
    expect(lines(run.stdout)).toHaveLength(3);
    expect(lines(run.stdout)[0]).toBe(`${good}: ok — plan checkout-v2, 3 phases`);
  });

  test('a missing file is one line, without a stack trace, and exits 2', async () => {
    const missing = join(dir, 'nope.yaml');
    const run = await canary('validate', missing);
    expect(run).toEqual({ code: 2, stdout: `${missing}: cannot read the plan: no such file\n`, stderr: '' });
  });

  test('--json prints one object per file with line, path and message of each issue', async () => {
    const run = await canary('validate', '--json', good, bad);
    expect(run.code).toBe(2);
    const reports = lines(run.stdout).map((line) => JSON.parse(line) as unknown);
    expect(reports).toEqual([
      { file: good, ok: true, issues: [] },
      {
        file: bad,
        ok: false,
        issues: [
          {
            line: 43,
            path: 'phases[1].minDuration',
            message: 'expected a duration such as "90s", "5m", "2h", "1d" or "1h30m", got "four hours"',
          },
          { line: 46, path: 'phases[1].approvals[0].rol', message: 'unknown field "rol" — did you mean "role"?' },
        ],
      },
    ]);
  });

  test('without a file it is a usage error', async () => {
    const run = await canary('validate');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: missing required argument 'file'");
  });
});

describe('usage', () => {
  test('an unknown command exits 2 and says so', async () => {
    const run = await canary('deploy', good);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: unknown command 'deploy'");
    expect(run.stdout).toBe('');
  });

  test('an unknown option exits 2', async () => {
    const run = await canary('validate', '--jsn', good);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: unknown option '--jsn'");
  });

  test('no command prints the help on stderr and exits 2', async () => {
    const run = await canary();
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Usage: canary');
  });

  test.each([['validate'], ['plan'], ['schema']])('canary %s --help prints its usage and exits 0', async (command) => {
    const run = await canary(command, '--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: canary ${command}`);
  });

  test('canary --help lists the commands', async () => {
    const run = await canary('--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/validate \[options\] <file\.\.\.>/);
    expect(run.stdout).toMatch(/plan \[options\] <file>/);
    expect(run.stdout).toMatch(/schema \[options\]/);
  });

  test('the bin script runs the same CLI as a process and sets its exit code', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'canary.js'), 'validate', join(dir, 'nope.yaml')], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe(`${join(dir, 'nope.yaml')}: cannot read the plan: no such file\n`);
    expect(result.stderr).toBe('');
  });
});

describe('canary plan', () => {
  test('prints the timeline with the cumulative minimum durations', async () => {
    const run = await canary('plan', good);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(`Checkout v2 (checkout-v2, run RUN-1)
target: checkout.v2 in flagd, environment prod
analysis: every 30s; data missing for 15m → hold; 3 metric source error(s) in a row → hold

Before phase 1
  preconditions:
    ci-green: \`npm test\` exits 0 within 5m
  tokens:
    HITL-CEO-1: consumed by ceo once these pass, otherwise hold:
      shadow-pass: reported value SHADOW_PASS_24H = 1

Throughout the rollout
  triggers:
    sev1: at least 1 sev1 incident(s) in the rollout → rollback; notify releases

Phase 1 canary: 5% — at least 90m; T+0s to T+1h30m at the earliest
  gates to advance:
    latency (shared): p95_latency_ms <= 500 ms in 3 consecutive 5m windows
  triggers:
    rollout-wide: sev1 → rollback
  tasks:
    snapshot: every 15m: snapshot of p95_latency_ms
  budgets:
    canary-spend: 300 USD; above 300 USD co-signed by cfo

Phase 2 live: 25% — at least 4h, at most 8h, then hold if still waiting; T+1h30m to T+5h30m at the earliest
  approvals:
    1 approval by cfo, to enter — Stripe goes live
  gates to advance:
    latency (shared): p95_latency_ms <= 500 ms in 3 consecutive 5m windows
  triggers:
    rollout-wide: sev1 → rollback
    errors: error_rate >= 2% for 5m → hold, decided by ceo, undecided after 1h: rollback
  config changes:
    stripe.mode: "test" → "live"
  budgets:
    canary-spend: 300 USD; above 300 USD co-signed by cfo

Phase 3 full: 100% — permanent; from T+5h30m at the earliest
  approvals:
    1 approval by ceo, signature required, to enter
  gates to complete:
    latency (shared): p95_latency_ms <= 500 ms in 3 consecutive 5m windows
  triggers:
    rollout-wide: sev1 → rollback

After 100%
  stabilization: 7d (at least 24h)

On rollback: flags off

minimum total: 5h30m, plus waiting for precondition ci-green (before phase 1), token HITL-CEO-1 (phase 1), cfo approval (phase 2), ceo approval (phase 3)
`);
  });

  test('--json prints the timeline as data, with the earliest start of each phase in milliseconds', async () => {
    const run = await canary('plan', good, '--json');
    expect(run.code).toBe(0);
    const timeline = JSON.parse(run.stdout) as PlanTimeline;
    expect(timeline.phases.map((p) => [p.name, p.earliestStartMs, p.earliestEndMs])).toEqual([
      ['canary', 0, 5_400_000],
      ['live', 5_400_000, 19_800_000],
      ['full', 19_800_000, 19_800_000],
    ]);
    expect(timeline.minimumTotalMs).toBe(19_800_000);
    expect(timeline.minimumTotal).toBe('5h30m');
    expect(timeline.phases[2]?.approvals).toEqual([
      { role: 'ceo', quorum: 1, at: 'enter', signatureRequired: true, text: '1 approval by ceo, signature required, to enter' },
    ]);
    expect(timeline.phases[1]?.triggers.map((t) => [t.name, t.scope, t.action])).toEqual([
      ['sev1', 'rollout', 'rollback'],
      ['errors', 'phase', 'hold'],
    ]);
  });

  test('a plan with issues prints them on stderr, nothing on stdout, and exits 2', async () => {
    const run = await canary('plan', bad);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toHaveLength(2);
    expect(lines(run.stderr)[0]).toMatch(/^.*invalid\.yaml:43 phases\[1\]\.minDuration: /);
  });
});

describe('canary schema', () => {
  test('prints the JSON Schema of the plan format', async () => {
    const run = await canary('schema');
    expect(run.code).toBe(0);
    const schema = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.title).toBe('canary rollout plan');
    expect(schema.required).toEqual(expect.arrayContaining(['apiVersion', 'id', 'name', 'target', 'providers', 'phases']));
  });

  test('--out writes it to a file', async () => {
    const out = join(dir, 'nested', 'plan.schema.json');
    const run = await canary('schema', '--out', out);
    expect(run).toEqual({ code: 0, stdout: `wrote ${out}\n`, stderr: '' });
    expect(existsSync(out)).toBe(true);
  });
});

describe('the plans in plans/', () => {
  // Read when the tests run, so that every plan added to plans/ is checked.
  const planFiles = () =>
    existsSync(PLANS_DIR)
      ? readdirSync(PLANS_DIR)
          .filter((name) => /\.ya?ml$/.test(name))
          .sort()
          .map((name) => join(PLANS_DIR, name))
      : [];

  test('canary validate plans/*.yaml exits 0', async () => {
    const files = planFiles();
    expect(files).not.toEqual([]);
    const run = await canary('validate', ...files);
    expect(run.stdout.split('\n').filter((line) => line && !line.includes(': ok — plan '))).toEqual([]);
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toHaveLength(files.length);
  });

  test('the CEOSPRINT plan takes at least 30h and needs the CFO and CEO approvals', async () => {
    const run = await canary('plan', join(PLANS_DIR, 'seed-002-ceosprint-canary.yaml'));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^minimum total: 30h\b/m);
    const approvals = approvalLines(run.stdout);
    expect(approvals.some((line) => /\bcfo\b/i.test(line))).toBe(true);
    expect(approvals.some((line) => /\bceo\b/i.test(line))).toBe(true);
  });
});

/** The lines listed under the "approvals:" headings of `canary plan` output. */
function approvalLines(output: string): string[] {
  const found: string[] = [];
  let headingIndent: number | undefined;
  for (const line of output.split('\n')) {
    const indent = line.length - line.trimStart().length;
    if (headingIndent !== undefined && indent > headingIndent && line.trim() !== '') {
      found.push(line.trim());
      continue;
    }
    headingIndent = line.trim() === 'approvals:' ? indent : undefined;
  }
  return found;
}
