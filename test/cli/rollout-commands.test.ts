/**
 * The rollout commands of `canary` against a real Temporal dev server and a worker running the real rollout
 * workflow: what an operator types, what they read, the exit code, and the rollout's real state afterwards.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { JWK } from 'jose';
import { getRollout, rolloutResult, rolloutStatus, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import { main } from '../../src/cli/main';
import { startCanary } from '../helpers/canary-cli';
import { fileNameOf } from '../../src/report/evidence-bundle';
import type { EvidenceReport } from '../../src/report/evidence-report';
import type { RolloutStatusView } from '../../src/workflows/messages';
import { approverKeyPair, startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';
import { testSetup } from '../helpers/temporal-env';

const TASK_QUEUE = 'cli-rollout-commands';

// Seconds, not hours: the dev server runs in real time.
const PLAN = `
apiVersion: canary/v1
id: cli-checkout
name: CLI checkout
target: { flags: [checkout-v3], provider: flagd, environment: cli }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  cfo: { members: [cfo@example.com], signatureRequired: true, keys: [cfo-2026] }
  release-manager: { members: [rm@example.com] }
  sre: { members: [sre@example.com] }
analysis: { interval: 1s }
checks:
  - name: drill-done
    when: { kind: attestation, check: drill-done, role: sre }
tokens:
  - { id: GO-1, role: release-manager, requires: [drill-done] }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - name: canary-50
    percent: 50
    minDuration: 1s
    approvals: [{ role: release-manager }]
  - name: full
    percent: 100
    minDuration: 1s
    approvals: [{ role: cfo }]
`;

// Stays in its first phase until an operator acts. One flag per rollout: a flag is driven by one rollout at a time.
const OPS_PLAN = `
apiVersion: canary/v1
id: cli-ops
name: CLI ops
target: { flags: [OPS_FLAG], provider: flagd, environment: cli }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  sre: { members: [sre@example.com] }
controls: { operators: [sre], forcePromote: { roles: [sre] } }
analysis: { interval: 1s }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: 1h }
  - { name: canary-50, percent: 50, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1h }
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dev: DevRollouts;
let env: DevRollouts['env'];
let cliEnv: NodeJS.ProcessEnv;
let cfoKey: JWK;
let publicKeyFile: string;
let planFile: string;
/** The operator plan on a flag of the rollout's own, as a file. */
const opsPlanFile = (id: string): string => {
  const file = join(dir, `${id}.yaml`);
  writeFileSync(file, OPS_PLAN.replace('OPS_FLAG', `${id}-flag`));
  return file;
};
const dir = mkdtempSync(join(tmpdir(), 'canary-cli-rollouts-'));

/** Runs `canary` in-process against the test server. */
async function canary(...argv: string[]): Promise<Run> {
  return started(...argv).done;
}

/** Starts `canary` in-process against the test server; `stdout()` reads what it printed so far. */
function started(...argv: string[]): { done: Promise<Run>; stdout: () => string } {
  return startCanary(() => cliEnv, ...argv);
}

/** Waits until `condition` holds, checking every 50 ms. */
async function eventually(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Polls the rollout's status query until `ready` holds (the dev server runs in real time). */
async function until(id: string, ready: (view: RolloutStatusView) => boolean): Promise<RolloutStatusView> {
  for (;;) {
    const view = await rolloutStatus(getRollout(env.client, id));
    if (ready(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

/** Runs `canary list …` until what it printed satisfies `ready` (visibility is eventually consistent), for at most 10 s. */
async function listUntil(argv: string[], ready: (stdout: string) => boolean): Promise<Run> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const run = await canary('list', ...argv);
    if (ready(run.stdout) || Date.now() > deadline) return run;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  testSetup();
  const cfo = await approverKeyPair('cfo-2026');
  cfoKey = cfo.privateKey;
  const publicKey = cfo.publicKey;
  publicKeyFile = join(dir, 'cfo.public.jwk.json');
  writeFileSync(publicKeyFile, JSON.stringify(publicKey));
  planFile = join(dir, 'checkout.yaml');
  // Evidence where the plan says, relative to the root `report --bundle` is given.
  writeFileSync(planFile, `${PLAN}evidence:\n  opsLog: evidence/ops-log.jsonl\n  bundle: evidence/bundle\n`);

  dev = await startDevRollouts({ taskQueue: TASK_QUEUE, approverKeys: [publicKey], root: dir });
  env = dev.env;
  cliEnv = { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', CFO_JWK: JSON.stringify(cfoKey), CANARY_USER: 'nobody@example.com' };
}, 120_000);

afterAll(async () => {
  await dev?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('canary start', () => {
  test('--dry-run validates and prints the timeline without starting anything', async () => {
    const run = await canary('start', planFile, '--id', 'cli-dry-run', '--task-queue', TASK_QUEUE, '--dry-run');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Phase 3 full: 100%');
    expect(lines(run.stdout).at(-1)).toBe(`dry run: ${planFile} is valid; \`canary start\` without --dry-run starts it as cli-dry-run on task queue ${TASK_QUEUE}`);
    await expect(env.client.workflow.getHandle('cli-dry-run').describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  test('an invalid plan prints each issue with its file and path, starts nothing and exits 2', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, PLAN.replace('minDuration: 1s }', 'minDuration: soon }'));
    const run = await canary('start', bad, '--id', 'cli-invalid', '--task-queue', TASK_QUEUE);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)[0]).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+ phases\\[0\\]\\.minDuration: expected a duration`));
    expect(lines(run.stderr).at(-1)).toBe(`${bad}: not started; fix the issues above (\`canary validate ${bad}\` checks again)`);
    await expect(env.client.workflow.getHandle('cli-invalid').describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });
});

describe('a rollout driven through the CLI from start to evidence', () => {
  const id = 'cli-happy';
  let watching: ReturnType<typeof started>;
  /** Waits until the watch has shown the command that acts next, so the test acts only on what an operator saw. */
  const watchShows = (text: string) => eventually(() => watching.stdout().includes(text));

  test('start starts the rollout on the task queue and says how to follow it', async () => {
    const run = await canary('start', planFile, '--id', id, '--task-queue', TASK_QUEUE);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toEqual([expect.stringMatching(new RegExp(`^started ${id} \\(plan cli-checkout, run [0-9a-f-]{36}\\) on task queue ${TASK_QUEUE}$`)), `follow it with: canary watch ${id}`]);
    const view = await until(id, (v) => v.waitingFor.some((w) => w.startsWith('token GO-1')));
    expect(view.status).toBe('waiting');
    // Followed live from here to the end.
    watching = started('watch', id, '--interval', '200ms');
  });

  test('a second start under the same id is refused with exit 1 and says how to follow the running one', async () => {
    const run = await canary('start', planFile, '--id', id, '--task-queue', TASK_QUEUE);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`a rollout with id ${id} is already running: follow it with \`canary watch ${id}\`. One rollout drives a flag at a time, whatever its id: stop that one first (\`canary abort ${id} --reason …\`)\n`);
  });

  test('a start of the same flags under another id is refused with exit 1, naming the rollout that drives them', async () => {
    const run = await canary('start', planFile, '--id', 'cli-happy-again', '--task-queue', TASK_QUEUE);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`cli-happy-again was refused: rollout refused: flag checkout-v3 is driven by rollout ${id}; one rollout per flag — wait for it to finish or stop it first\n`);
    expect((await rolloutResult(getRollout(env.client, 'cli-happy-again'))).finalPercent).toBe(0);
  });

  test('status shows the waiting token and the exact command that consumes it', async () => {
    const run = await canary('status', id);
    expect(run.code).toBe(0);
    expect(lines(run.stdout).slice(0, 2)).toEqual([`${id} — waiting`, '  phase       not started (before-start), traffic 0%']);
    expect(run.stdout).toContain(`  to consume  canary consume-token ${id} GO-1 --role release-manager\n`);
    expect(run.stdout).toContain('  recent decisions:\n');
  });

  test('consume-token is refused while its check is not attested: the reason on stderr and exit 1', async () => {
    await watchShows(`  to consume  canary consume-token ${id} GO-1 --role release-manager\n`);
    const run = await canary('consume-token', id, 'GO-1', '--role', 'release-manager', '--by', 'rm@example.com');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(new RegExp(`^refused by ${id}: its conditions do not hold: .*drill-done.* — HOLD\\n$`));
  });

  test("attest refuses someone outside the check's role and records the attester and the note", async () => {
    const refused = await canary('attest', id, 'drill-done');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`refused by ${id}: drill-done must be attested by the sre role\n`);

    const accepted = await canary('attest', id, 'drill-done', '--by', 'sre@example.com', '--note', 'drill on staging at 09:00');
    expect(accepted.stderr).toBe('');
    expect(accepted.code).toBe(0);
    expect(lines(accepted.stdout)[0]).toMatch(new RegExp(`^attestation of drill-done by sre@example.com: accepted by ${id}, now \\S+$`));
    expect(accepted.stdout).toMatch(/ attest {2}.*drill-done/);
  });

  test('consume-token is accepted once the check holds and the rollout enters its first phase', async () => {
    const run = await canary('consume-token', id, 'GO-1', '--role', 'release-manager', '--by', 'rm@example.com', '--json');
    expect(run.code).toBe(0);
    const outcome = JSON.parse(run.stdout) as { rolloutId: string; accepted: boolean; log: Array<{ action: string }> };
    expect(outcome).toMatchObject({ rolloutId: id, accepted: true });
    expect(outcome.log.map((e) => e.action)).toContain('consume-token');
    const view = await until(id, (v) => v.phaseIndex >= 0);
    expect(view.phase).toBe('canary-10');
  });

  test('status shows the pending approval, the command that approves it and each gate against its threshold', async () => {
    await until(id, (v) => v.waitingFor.some((w) => w.startsWith('approval by release-manager')));
    const run = await canary('status', id);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${id} — `);
    expect(run.stdout).toContain('  phase       canary-10 (phase 1) at 10%');
    expect(run.stdout).toMatch(/ {2}gate {8}errors-ok: met — .*0\.001/);
    expect(run.stdout).toContain('  waiting for approval by release-manager (0 of 1) to enter canary-50\n');
    expect(run.stdout).toContain(`  to approve  canary approve ${id} --role release-manager --by rm@example.com\n`);
  });

  test('without --by the identity is CANARY_USER; someone outside the role is refused with the reason and exit 1', async () => {
    const run = await canary('approve', id, '--role', 'release-manager');
    expect(run).toEqual({ code: 1, stdout: '', stderr: `refused by ${id}: nobody@example.com does not hold the role release-manager\n` });
  });

  test('approve records the approver and the reason, and the rollout advances', async () => {
    await watchShows(`  to approve  canary approve ${id} --role release-manager --by rm@example.com\n`);
    const run = await canary('approve', id, '--role', 'release-manager', '--by', 'rm@example.com', '--reason', 'dashboards <b>clean</b> & quiet');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(lines(run.stdout)[0]).toMatch(new RegExp(`^approve by release-manager rm@example.com: accepted by ${id}, now \\S+$`));
    expect(run.stdout).toContain('approve  release-manager rm@example.com approved phase canary-50: dashboards <b>clean</b> & quiet — by rm@example.com');
    await until(id, (v) => v.waitingFor.some((w) => w.startsWith('approval by cfo')));
  });

  test('an unsigned approval for a role that signs is refused and says how to sign', async () => {
    // A role that signs: the printed command carries the key (here it is left out on purpose).
    await watchShows(`  to approve  canary approve ${id} --role cfo --by cfo@example.com --key cfo.jwk\n`);
    const run = await canary('approve', id, '--role', 'cfo', '--by', 'cfo@example.com');
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([
      `refused by ${id}: an approval by cfo must carry a valid signature`,
      'this role signs its decisions: add --key <private JWK file> or --key-env <VAR holding the private JWK JSON>',
    ]);
  });

  test('a public key is not a signing key: exit 2 and nothing is sent', async () => {
    const run = await canary('approve', id, '--role', 'cfo', '--by', 'cfo@example.com', '--key', publicKeyFile);
    expect(run).toEqual({ code: 2, stdout: '', stderr: `canary approve: key file ${publicKeyFile} holds a public key; sign with the approver's private key (the JWK with "d")\n` });
  });

  test('approve --key-env signs the decision; it is verified and the rollout completes', async () => {
    const run = await canary('approve', id, '--role', 'cfo', '--by', 'cfo@example.com', '--key-env', 'CFO_JWK', '--reason', 'budget ok');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(lines(run.stdout)[0]).toMatch(/^approve by cfo cfo@example.com \(signed\): accepted by cli-happy, now \S+$/);
    expect(run.stdout).toContain('cfo cfo@example.com approved phase full (signature verified): budget ok');
    expect(run.stdout).not.toContain(String(cfoKey.d));
    const result = await rolloutResult(getRollout(env.client, id));
    expect(result.outcome).toBe('completed');
    expect(result.finalPercent).toBe(100);
  });

  test('watch followed the rollout to the end: decisions, frames with the approve command, then the outcome; exit 0', async () => {
    const run = await watching.done;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(lines(run.stdout).at(-1)).toBe(`${id} — completed at 100% in phase full`);
    expect(run.stdout).toContain(`  to consume  canary consume-token ${id} GO-1 --role release-manager\n`);
    expect(run.stdout).toContain(`  to approve  canary approve ${id} --role release-manager --by rm@example.com\n`);
    expect(run.stdout).toContain(`  to approve  canary approve ${id} --role cfo --by cfo@example.com --key cfo.jwk\n`);
    expect(run.stdout).toMatch(/^\d\d:\d\d:\d\dZ canary-10 10% {2}enter-phase {2}entered canary-10 at 10%/m);
    expect(run.stdout).toMatch(/ {2}complete {2}/);
    // Plain text for logs and READMEs: no terminal control codes.
    expect(run.stdout.includes('\u001b')).toBe(false);
    // Each frame is printed because something changed: no two frames in a row are the same.
    const frames = run.stdout.split('\n\n').map((block) => block.split('\n').filter((line) => line.startsWith(`${id} — `) || line.startsWith('  ')).join('\n'));
    for (let i = 1; i < frames.length; i++) if (frames[i] !== '') expect(frames[i]).not.toBe(frames[i - 1]);
  });

  test('list shows the completed rollout, and --status filters on the rollout status', async () => {
    // Visibility is eventually consistent: wait until the closed rollout is listed as completed.
    let run: Run;
    do run = await canary('list', '--status', 'completed');
    while (!run.stdout.includes(id));
    expect(run.code).toBe(0);
    expect(lines(run.stdout)[0]).toMatch(/^ROLLOUT +STATUS +WORKFLOW +PHASE +PERCENT +PLAN +STARTED$/);
    expect(lines(run.stdout).find((line) => line.startsWith(id))).toMatch(new RegExp(`^${id} +completed +completed +full +100% +cli-checkout +\\d{4}-\\d\\d-\\d\\dT`));
    const none = await canary('list', '--status', 'killed');
    expect(none.stdout).not.toContain(id);
  });

  test('report --format md has every section, the phase changes with metrics, and the approvers with their signatures', async () => {
    const run = await canary('report', id);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const md = run.stdout;
    expect(md.startsWith('# Rollout evidence: CLI checkout\n')).toBe(true);
    for (const section of ['Summary', 'Phase changes', 'Approvals', 'Refused messages', 'Incidents and alerts', 'Rollback and verification', 'Success criteria', 'Tasks, checks and attestations', 'Metric snapshots', 'Timeline (complete ops log)']) {
      expect(md).toContain(`\n## ${section}\n`);
    }
    expect(md).toContain('| Final state | completed |');
    // The values beside the thresholds they were judged against, and who approved the step.
    expect(md).toMatch(/\| \d{4}-\d\d-\d\dT[\d:.]+Z \| canary-50 \| 50% \| advance \| advanced to canary-50 at 50% \(from 10%\): .* \| error_rate = 0\.001 \(gate errors-ok: < 0\.01 ratio\)(; observed \d{4}-\d\d-\d\dT[\d:.]+Z)? \| rm@example\.com \(release-manager\) \|/);
    expect(md).toMatch(new RegExp(`\\| History \\| http://localhost:8233/namespaces/default/workflows/${id}/[0-9a-f-]{36}/history \\|`));
    expect(md).toMatch(/\| Plan hash \| sha256:[0-9a-f]{64} \|/);
    expect(md).toMatch(/\| Started by \| \S+ \|/);
    expect(md).toMatch(/\| approved \| release-manager \| rm@example\.com \| phase canary-50 \| unsigned \| dashboards \\<b>clean\\<\/b> & quiet \|/);
    expect(md).toMatch(/\| approved \| cfo \| cfo@example\.com \| phase full \| verified \| budget ok \|/);
    // Every refusal is in the evidence: the outsider's approval was refused by the update validator and is not;
    // the unsigned CFO approval is recorded as refused.
    expect(md).toMatch(/\| cfo@example\.com \| approve by cfo cfo@example\.com refused: an approval by cfo must carry a valid signature \|/);
  });

  test('report --format html escapes what people wrote', async () => {
    const run = await canary('report', id, '--format', 'html');
    expect(run.code).toBe(0);
    expect(run.stdout.startsWith('<!doctype html>')).toBe(true);
    expect(run.stdout).toContain('dashboards &lt;b&gt;clean&lt;/b&gt; &amp; quiet');
    expect(run.stdout).not.toContain('<b>clean</b>');
  });

  test('report --format json --out writes the evidence as data matching the rollout result', async () => {
    const out = join(dir, 'evidence', 'cli-happy.json');
    const run = await canary('report', id, '--format', 'json', '--out', out);
    expect(run).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(json, \\d+ ops-log entries\\)\\n$`)), stderr: '' });
    const report = JSON.parse(readFileSync(out, 'utf8')) as EvidenceReport;
    const result = await rolloutResult(getRollout(env.client, id));
    expect(report.summary).toMatchObject({ running: false, status: 'completed', outcome: 'completed', phase: 'full', percent: 100 });
    expect(report.plan).toEqual({ id: 'cli-checkout', name: 'CLI checkout', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(report.timeline).toHaveLength(result.opsLog.length);
    expect(report.approvals.map((a) => [a.role, a.by, a.signatureVerified])).toEqual([
      ['release-manager', 'rm@example.com', false],
      ['cfo', 'cfo@example.com', true],
    ]);
    expect(report.phaseChanges.map((e) => e.action)).toEqual(['enter-phase', 'advance', 'advance', 'complete']);
    expect(report.phaseChanges.every((e) => e.metrics !== undefined)).toBe(true);
  });

  test('report --json prints the evidence as JSON', async () => {
    const run = await canary('report', id, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as EvidenceReport;
    expect(report.summary).toMatchObject({ running: false, status: 'completed', outcome: 'completed' });
    const md = await canary('report', id, '--json', '--format', 'md');
    expect(md).toEqual({ code: 2, stdout: '', stderr: 'canary report: --json prints the report as JSON; drop --format md, or write it with --out <file>\n' });
  });

  test("report --bundle writes the report and the ops log where the plan's evidence settings say", async () => {
    const run = await canary('report', id, '--bundle', dir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const base = join(dir, 'evidence', 'bundle', fileNameOf(id));
    const opsLog = join(dir, 'evidence', 'ops-log.jsonl');
    expect(run.stdout).toBe(`wrote ${base}.md, ${base}.json, ${base}.html, ${opsLog} (${(await rolloutResult(getRollout(env.client, id))).opsLog.length} ops-log entries)\n`);
    expect(readFileSync(`${base}.md`, 'utf8').startsWith('# Rollout evidence: CLI checkout\n')).toBe(true);
    expect((JSON.parse(readFileSync(`${base}.json`, 'utf8')) as EvidenceReport).summary).toMatchObject({ outcome: 'completed' });
    const lines = readFileSync(opsLog, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ rolloutId: id, action: 'start', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(lines.find((l) => l.action === 'approve')).toMatchObject({ approval: { role: 'release-manager', by: 'rm@example.com', decision: 'approve', subject: 'phase:canary-50' } });
  });

  test('an unknown --format is a usage error', async () => {
    const run = await canary('report', id, '--format', 'pdf');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("argument 'pdf' is invalid. Allowed choices are md, json, html.");
  });

  test('replay replays every run of the history against the current workflow code', async () => {
    const run = await canary('replay', id, '--workflow-bundle', testSetup().bundlePath);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(lines(run.stdout)[0]).toBe(`${id}: 1 run replayed against the current workflow code`);
    expect(lines(run.stdout)[1]).toMatch(/^ {2}[0-9a-f-]{36} +\d+ events {2}deterministic$/);
    expect(lines(run.stdout).at(-1)).toBe('ok: every run replays deterministically');
  }, 60_000);

  test('replay without --workflow-bundle bundles the workflow code from src/workflows', async () => {
    const run = await canary('replay', id, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ rolloutId: id, deterministic: true, runs: [{ runId: expect.any(String), events: expect.any(Number), deterministic: true }] });
  }, 180_000);
});

describe('reject', () => {
  test('a rejection is recorded with its reason and the phase waits on it', async () => {
    const id = 'cli-reject';
    expect((await canary('start', planFile, '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    // A decision counts only for what the rollout waits for: bring it to the release manager's approval first.
    await until(id, (v) => v.waitingFor.some((w) => w.startsWith('token GO-1')));
    expect((await canary('attest', id, 'drill-done', '--by', 'sre@example.com')).code).toBe(0);
    expect((await canary('consume-token', id, 'GO-1', '--role', 'release-manager', '--by', 'rm@example.com')).code).toBe(0);
    await until(id, (v) => v.waitingFor.some((w) => w.startsWith('approval by release-manager')));
    const run = await canary('reject', id, '--role', 'release-manager', '--by', 'rm@example.com', '--reason', 'conversion is down 3%');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(lines(run.stdout)[0]).toMatch(/^reject by release-manager rm@example.com: accepted by cli-reject, now \S+$/);
    expect(run.stdout).toContain('release-manager rm@example.com rejected phase canary-50: conversion is down 3%');
    const report = JSON.parse((await canary('report', id, '--format', 'json')).stdout) as EvidenceReport;
    expect(report.summary.running).toBe(true);
    expect(report.approvals).toEqual([
      { at: expect.any(String), decision: 'rejected', role: 'release-manager', by: 'rm@example.com', subject: 'phase canary-50', reason: 'conversion is down 3%', signatureVerified: false },
    ]);
  });
});

describe('operator commands', () => {
  test('pause and resume: the rollout says what it is, and refuses what does not apply', async () => {
    const id = 'cli-pause';
    expect((await canary('start', opsPlanFile(id), '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    await until(id, (v) => v.phaseIndex === 0);
    const paused = await canary('pause', id, '--by', 'sre@example.com', '--role', 'sre', '--reason', 'investigating a spike');
    expect(paused.code).toBe(0);
    expect(lines(paused.stdout)[0]).toBe(`pause by sre@example.com: accepted by ${id}, now paused`);
    expect((await rolloutStatus(getRollout(env.client, id))).status).toBe('paused');

    const again = await canary('pause', id, '--by', 'sre@example.com', '--role', 'sre');
    expect(again).toEqual({ code: 1, stdout: '', stderr: `refused by ${id}: the rollout is already paused\n` });

    const resumed = await canary('resume', id, '--by', 'sre@example.com', '--role', 'sre');
    expect(resumed.code).toBe(0);
    expect((await rolloutStatus(getRollout(env.client, id))).status).not.toBe('paused');

    // Its plan names no evidence settings: --bundle says so, and where else the report can go.
    expect(await canary('report', id, '--bundle')).toEqual({ code: 2, stdout: '', stderr: `canary report --bundle: the plan of ${id} names no evidence.bundle or evidence.opsLog; write the report with --out <file>\n` });
  });

  test('promote enters the next phase now; promote --force needs a reason and goes straight to the last phase', async () => {
    const id = 'cli-promote';
    expect((await canary('start', opsPlanFile(id), '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    await until(id, (v) => v.phaseIndex === 0);
    const promoted = await canary('promote', id, '--by', 'sre@example.com', '--role', 'sre', '--reason', 'canary looks fine');
    expect(promoted.code).toBe(0);
    expect((await until(id, (v) => v.phaseIndex === 1)).percent).toBe(50);

    const noReason = await canary('promote', id, '--force', '--by', 'sre@example.com', '--role', 'sre');
    expect(noReason).toEqual({ code: 2, stdout: '', stderr: 'canary promote --force: a forced promotion bypasses gates and approvals; say why with --reason <text>\n' });

    const forced = await canary('promote', id, '--force', '--reason', 'hotfix verified by hand', '--by', 'sre@example.com', '--role', 'sre');
    expect(forced.code).toBe(0);
    expect(lines(forced.stdout)[0]).toMatch(/^force-promote by sre@example.com: accepted by cli-promote, now /);
    const view = await until(id, (v) => v.phaseIndex === 2);
    expect(view.percent).toBe(100);
    expect(view.opsLog.some((e) => e.action === 'force-promote' && e.reason.includes('hotfix verified by hand'))).toBe(true);
  });

  test('rollback needs --reason; with one it rolls back and watch ends with exit 1 and the outcome', async () => {
    const id = 'cli-rollback';
    expect((await canary('start', opsPlanFile(id), '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    await until(id, (v) => v.phaseIndex === 0);
    const noReason = await canary('rollback', id);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain("error: required option '--reason <text>' not specified");

    const run = await canary('rollback', id, '--reason', 'error budget burn', '--by', 'sre@example.com', '--role', 'sre');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('ROLLBACK: rollback requested by sre@example.com (sre): error budget burn');
    const watched = await canary('watch', id, '--interval', '200ms');
    expect(watched.code).toBe(1);
    expect(lines(watched.stdout).at(-1)).toMatch(new RegExp(`^${id} — rolled_back at 0% in phase canary-10`));
    expect((await rolloutResult(getRollout(env.client, id))).outcome).toBe('rolled_back');

    // Finished, not gone: a message to it says how and when it ended, never "no rollout".
    const closeTime = (await env.client.workflow.getHandle(id).describe()).closeTime as Date;
    const late = await canary('approve', id, '--role', 'sre', '--by', 'sre@example.com');
    expect(late).toEqual({
      code: 1,
      stdout: '',
      stderr: `${id} is finished (rolled_back at ${closeTime.toISOString().replace(/\.\d{3}Z$/, 'Z')}); nothing more can be sent to it — \`canary report ${id}\` shows what happened\n`,
    });
  });

  test('list shows a rollout terminated from outside as terminated beside the status it last published', async () => {
    const id = 'cli-terminate';
    expect((await canary('start', opsPlanFile(id), '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    await until(id, (v) => v.phaseIndex === 0);
    // Terminated once the search attributes say canary-10 (visibility is indexed a moment after the workflow task).
    await listUntil([], (stdout) => new RegExp(`^${id} +running +running +canary-10`, 'm').test(stdout));
    await env.client.workflow.getHandle(id).terminate('operator ran temporal workflow terminate');
    const run = await listUntil([], (stdout) => new RegExp(`^${id} .*terminated`, 'm').test(stdout));
    expect(lines(run.stdout).find((line) => line.startsWith(`${id} `))).toMatch(new RegExp(`^${id} +running +terminated +canary-10 +10% +cli-ops +\\d{4}-`));
    const json = lines((await canary('list', '--json')).stdout).map((line) => JSON.parse(line) as { workflowId: string; executionStatus: string; status: string });
    expect(json.find((r) => r.workflowId === id)).toMatchObject({ executionStatus: 'TERMINATED', status: 'running' });
    // The flag lock the rollout took is a workflow of its own, never listed as a rollout.
    expect(json.some((r) => r.workflowId.startsWith('canary-flag-lock:'))).toBe(false);
  });

  test('abort ends the rollout as aborted', async () => {
    const id = 'cli-abort';
    expect((await canary('start', opsPlanFile(id), '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    await until(id, (v) => v.phaseIndex === 0);
    const run = await canary('abort', id, '--reason', 'customer escalation', '--by', 'sre@example.com', '--role', 'sre');
    expect(run.code).toBe(0);
    expect((await rolloutResult(getRollout(env.client, id))).outcome).toBe('aborted');
  });

  test('watch on a terminal redraws its frame in place instead of scrolling', async () => {
    const id = 'cli-watch-tty';
    expect((await canary('start', opsPlanFile(id), '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    await until(id, (v) => v.phaseIndex === 0);
    let screen = '';
    const watching = main(['watch', id, '--interval', '100ms'], { stdout: { write: (text: string) => (screen += text), isTTY: true }, stderr: { write: () => undefined } }, { env: cliEnv });
    // Each redraw starts with "cursor up N lines, clear to the end" (ESC [ N F ESC [ J).
    const redraws = () => screen.split('\x1b[').filter((part) => /^\d+F$/.test(part)).length;
    await eventually(() => redraws() >= 3);
    expect((await canary('kill', id, '--by', 'sre@example.com', '--role', 'sre', '--reason', 'done watching')).code).toBe(0);
    expect(await watching).toBe(1);
    // Each redraw moves up over exactly the frame it drew before (its lines and the blank line above it).
    const frame = screen.slice(screen.indexOf('\n\n') + 1, screen.indexOf('\x1b['));
    expect(screen).toContain(`\x1b[${frame.split('\n').length - 1}F\x1b[J`);
    expect(screen).toContain(`${id} — killed at 0%`);
  });

  test('kill stops the rollout at once; watch --json streams one object per change and ends with the outcome', async () => {
    const id = 'cli-kill';
    expect((await canary('start', opsPlanFile(id), '--id', id, '--task-queue', TASK_QUEUE)).code).toBe(0);
    await until(id, (v) => v.phaseIndex === 0);
    const watching = started('watch', id, '--json', '--interval', '200ms');
    // Killed once the watch has shown the running rollout.
    await eventually(() => watching.stdout() !== '');
    const run = await canary('kill', id, '--by', 'sre@example.com', '--role', 'sre', '--reason', 'data corruption');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('KILL:');
    const watched = await watching.done;
    expect(watched.code).toBe(1);
    const objects = lines(watched.stdout).map((line) => JSON.parse(line) as { type: string; outcome?: string; rolloutId: string; log: unknown[] });
    expect(objects[0]).toMatchObject({ type: 'progress', rolloutId: id, phase: 'canary-10', percent: 10 });
    expect(objects.at(-1)).toMatchObject({ type: 'outcome', rolloutId: id, outcome: 'killed', finalPercent: 0 });
    expect(objects.slice(0, -1).every((o) => o.type === 'progress')).toBe(true);
    const status = await canary('status', id);
    expect(lines(status.stdout)[0]).toBe(`${id} — killed at 0% in phase canary-10`);
  });
});

describe('replay across continue-as-new', () => {
  test('replays every run of the chain, from the first to the last', async () => {
    const id = 'cli-chain';
    const parsed = parsePlanText(OPS_PLAN.replace('OPS_FLAG', `${id}-flag`), 'ops.yaml');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    // A small history limit makes the rollout continue as new every few evaluations.
    const handle = await startRollout(env.client, parsed.plan, { workflowId: id, taskQueue: TASK_QUEUE, maxHistoryEvents: 40 });
    for (;;) {
      if ((await env.client.workflow.getHandle(id).describe()).runId !== handle.firstExecutionRunId) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect((await canary('kill', id, '--by', 'sre@example.com', '--role', 'sre')).code).toBe(0);
    await rolloutResult(getRollout(env.client, id));

    const run = await canary('replay', id, '--workflow-bundle', testSetup().bundlePath, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const replay = JSON.parse(run.stdout) as { deterministic: boolean; runs: Array<{ runId: string; deterministic: boolean }> };
    expect(replay.deterministic).toBe(true);
    expect(replay.runs.length).toBeGreaterThanOrEqual(2);
    expect(replay.runs[0]?.runId).toBe(handle.firstExecutionRunId);
    expect(replay.runs.every((r) => r.deterministic)).toBe(true);

    // list: when the rollout started is its first run's start, not the latest run's.
    const firstStart = (await env.client.workflow.getHandle(id, handle.firstExecutionRunId).describe()).startTime;
    type Listed = { workflowId: string; firstRunId: string; startTime: string; runStartTime: string; executionStatus: string };
    const rows = (stdout: string) => lines(stdout).map((line) => JSON.parse(line) as Listed);
    const done = (r: Listed) => r.workflowId === id && r.executionStatus === 'COMPLETED';
    const listed = rows((await listUntil(['--json'], (stdout) => rows(stdout).some(done))).stdout).find(done);
    expect(listed?.executionStatus).toBe('COMPLETED');
    if (!listed) return;
    expect(listed.firstRunId).toBe(handle.firstExecutionRunId);
    expect(listed.startTime).toBe(firstStart.toISOString());
    expect(Date.parse(listed.runStartTime)).toBeGreaterThan(firstStart.getTime());
    const table = await canary('list');
    expect(lines(table.stdout).find((line) => line.startsWith(`${id} `))).toMatch(new RegExp(`^${id} +killed +completed +.* ${firstStart.toISOString().replace(/\.\d{3}Z$/, 'Z')}$`));
  }, 60_000);
});

describe('what cannot be done', () => {
  test('a rollout id the server does not know is one clear line and exit 1', async () => {
    for (const argv of [['status', 'cli-nope'], ['approve', 'cli-nope', '--role', 'cfo'], ['watch', 'cli-nope'], ['report', 'cli-nope'], ['pause', 'cli-nope']]) {
      const run = await canary(...argv);
      expect(run).toEqual({ code: 1, stdout: '', stderr: `no rollout "cli-nope" on ${env.address} (namespace default); \`canary list\` shows the rollouts there\n` });
    }
  });

  test.each([['start'], ['list'], ['status'], ['watch'], ['approve'], ['reject'], ['attest'], ['consume-token'], ['pause'], ['resume'], ['abort'], ['rollback'], ['promote'], ['kill'], ['report'], ['replay']])(
    'canary %s --help prints its usage and exits 0',
    async (command) => {
      const run = await canary(command, '--help');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Usage: canary ${command}`);
    },
  );
});
