/**
 * The commands `canary status` and `canary watch` print for what a rollout waits for — "to approve  canary approve …",
 * "to consume  canary consume-token …" — run as printed: a role that signs gets `--key <role>.jwk`, so the printed
 * command, run in a directory holding that key, is accepted with its signature verified instead of being refused for
 * lack of one; an approval whose requirement needs no signature gets no `--key`. Against a real dev server with the
 * rollout worker; the printed commands run through `sh` with `canary` being bin/canary.js.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { getRollout, rolloutResult, rolloutStatus } from '../../src/client';
import { startCanary } from '../helpers/canary-cli';
import type { RolloutStatusView } from '../../src/workflows/messages';
import { approverKeyPair, startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';
import { testSetup } from '../helpers/temporal-env';

const ROOT = resolve(__dirname, '..', '..');
const TASK_QUEUE = 'cli-signed-commands';
const ID = 'cli-signed';

// The CEO consumes a token (once the SRE has attested its check) and the CFO approves canary-50, both signed; the
// CFO's approval of full is not signed.
const PLAN = `
apiVersion: canary/v1
id: cli-signed
name: CLI signed commands
target: { flags: [signed-checkout], provider: flagd, environment: cli }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  ceo: { members: [ceo@example.com], signatureRequired: true, keys: [ceo-2026] }
  cfo: { members: [cfo@example.com], signatureRequired: true, keys: [cfo-2026] }
  sre: { members: [sre@example.com] }
analysis: { interval: 1s }
checks:
  - name: drill-done
    when: { kind: attestation, check: drill-done, role: sre }
tokens:
  - { id: GO-1, role: ceo, requires: [drill-done] }
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - name: canary-50
    percent: 50
    minDuration: 1s
    approvals: [{ role: cfo }]
  - name: full
    percent: 100
    minDuration: 1s
    approvals: [{ role: cfo, signatureRequired: false }]
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
/** Where the printed commands run: it holds the approvers' private keys as ceo.jwk and cfo.jwk. */
let keysDir: string;
let dev: DevRollouts;
let cliEnv: NodeJS.ProcessEnv;
/** The environment of the shell that runs a printed command: `canary` on PATH, the test server. */
let shellEnv: NodeJS.ProcessEnv;

/** Starts `canary` in-process against the test server; `stdout()` reads what it printed so far. */
function started(...argv: string[]): { done: Promise<Run>; stdout: () => string } {
  return startCanary(() => cliEnv, ...argv);
}

/** Runs `command` as a person pastes it into a shell: `sh -c` in {@link keysDir}, acting as `user`. */
function shell(command: string, user: string): Promise<Run> {
  return new Promise((done, failed) => {
    const child = spawn('sh', ['-c', command], { cwd: keysDir, env: { ...shellEnv, CANARY_USER: user }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', failed);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Polls the rollout's status query until `ready` holds (the dev server runs in real time); throws after 20 s. */
async function until(ready: (view: RolloutStatusView) => boolean): Promise<RolloutStatusView> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const view = await rolloutStatus(getRollout(dev.env.client, ID));
    if (ready(view)) return view;
    if (Date.now() > deadline) throw new Error(`the rollout never got there; it waits for: ${view.waitingFor.join('; ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The command on the line labelled `label` ("to approve", "to consume") of `canary status`. */
async function printedCommand(label: string): Promise<string> {
  const run = await started('status', ID, '--log', '0').done;
  expect(run).toMatchObject({ code: 0, stderr: '' });
  const line = run.stdout.split('\n').find((l) => l.startsWith(`  ${label.padEnd(12)}`));
  if (!line) throw new Error(`canary status printed no "${label}" line:\n${run.stdout}`);
  return line.slice(2 + 12);
}

beforeAll(async () => {
  testSetup();
  dir = mkdtempSync(join(tmpdir(), 'canary-cli-signed-'));
  keysDir = join(dir, 'keys');
  mkdirSync(keysDir);
  const ceo = await approverKeyPair('ceo-2026');
  const cfo = await approverKeyPair('cfo-2026');
  writeFileSync(join(keysDir, 'ceo.jwk'), JSON.stringify(ceo.privateKey));
  writeFileSync(join(keysDir, 'cfo.jwk'), JSON.stringify(cfo.privateKey));
  writeFileSync(join(dir, 'plan.yaml'), PLAN);
  // `canary` as the package's bin runs it.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'canary'), `#!/bin/sh\nexec '${process.execPath}' '${join(ROOT, 'bin', 'canary.js')}' "$@"\n`);
  chmodSync(join(bin, 'canary'), 0o755);

  dev = await startDevRollouts({ taskQueue: TASK_QUEUE, approverKeys: [ceo.publicKey, cfo.publicKey], root: dir });
  const server = { TEMPORAL_ADDRESS: dev.env.address, TEMPORAL_NAMESPACE: 'default' };
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')));
  cliEnv = { ...inherited, ...server, CANARY_USER: 'nobody@example.com' };
  shellEnv = { ...inherited, ...server, PATH: [bin, dirname(process.execPath), process.env.PATH].join(delimiter) };
}, 120_000);

afterAll(async () => {
  await dev?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the printed approve and consume-token commands of a role that signs', () => {
  let watching: ReturnType<typeof started>;
  /** Waits until the watch has printed `text` too, so each command is run only once both have shown it; at most 20 s. */
  const watchShows = async (text: string) => {
    const deadline = Date.now() + 20_000;
    while (!watching.stdout().includes(text)) {
      if (Date.now() > deadline) throw new Error(`watch never printed ${text}:\n${watching.stdout()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  test('status prints the consume-token command with --key for the signing role; run as printed, it is accepted and verified', async () => {
    const start = await started('start', join(dir, 'plan.yaml'), '--id', ID, '--task-queue', TASK_QUEUE).done;
    expect(start).toMatchObject({ code: 0, stderr: '' });
    watching = started('watch', ID, '--interval', '200ms');
    await until((v) => (v.waits ?? []).some((w) => w.kind === 'token'));
    // Consumable once its check holds.
    expect(await started('attest', ID, 'drill-done', '--by', 'sre@example.com').done).toMatchObject({ code: 0, stderr: '' });
    await until((v) => (v.waits ?? []).some((w) => w.kind === 'token' && w.blockedBy.length === 0));

    const command = await printedCommand('to consume');
    expect(command).toBe(`canary consume-token ${ID} GO-1 --role ceo --key ceo.jwk`);
    await watchShows(command);
    const run = await shell(command, 'ceo@example.com');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^token GO-1 consumed by ceo ceo@example.com \\(signed\\): accepted by ${ID}`));
  }, 60_000);

  test('status prints the approve command with --by and --key; run as printed, the approval counts with its signature verified', async () => {
    await until((v) => (v.waits ?? []).some((w) => w.kind === 'approval' && w.role === 'cfo' && w.phase === 'canary-50'));
    const command = await printedCommand('to approve');
    expect(command).toBe(`canary approve ${ID} --role cfo --by cfo@example.com --key cfo.jwk`);
    await watchShows(command);
    const run = await shell(command, 'nobody@example.com');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^approve by cfo cfo@example.com \\(signed\\): accepted by ${ID}`));
    expect(run.stdout).toContain('cfo cfo@example.com approved phase canary-50 (signature verified)');
  }, 60_000);

  test('an approval whose requirement needs no signature is printed without --key, and taken as printed', async () => {
    await until((v) => (v.waits ?? []).some((w) => w.kind === 'approval' && w.role === 'cfo' && w.phase === 'full'));
    const command = await printedCommand('to approve');
    expect(command).toBe(`canary approve ${ID} --role cfo --by cfo@example.com`);
    await watchShows(`${command}\n`);
    const run = await shell(command, 'nobody@example.com');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect((await rolloutResult(getRollout(dev.env.client, ID))).outcome).toBe('completed');
  }, 60_000);

  test('watch printed the same commands in its frames', async () => {
    const run = await watching.done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`  to consume  canary consume-token ${ID} GO-1 --role ceo --key ceo.jwk\n`);
    expect(run.stdout).toContain(`  to approve  canary approve ${ID} --role cfo --by cfo@example.com --key cfo.jwk\n`);
    expect(run.stdout).toContain(`  to approve  canary approve ${ID} --role cfo --by cfo@example.com\n`);
  }, 60_000);
});
