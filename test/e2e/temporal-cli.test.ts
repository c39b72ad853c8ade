/**
 * docs/temporal-cli.md, run: a rollout driven only with the `temporal` binary (plus `canary workflow-input` and
 * `canary sign`) against a dev server, with the rollout worker in this process. Every command is run through bash
 * exactly as written here, and each must appear verbatim in the document, so the document cannot drift from what
 * works.
 *
 * `canary` is the program of src/cli/main.ts run through tsx as bin/canary.js runs it; while main.ts does not register
 * `sign` or `workflow-input` yet, the entry adds them to that program itself.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { exportJWK, generateKeyPair } from 'jose';
import type { RolloutResult } from '../../src/domain/types';
import { createRolloutDeps, createWorker, DEFAULT_TASK_QUEUE } from '../../src/worker';
import type { RolloutStatusView } from '../../src/workflows/messages';
import { createDevServerEnv, testSetup, workflowBundle } from '../helpers/temporal-env';

const ROOT = resolve(__dirname, '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'temporal-cli.md'), 'utf8');
const ROLLOUT = 'rollout:checkout-v2:prod';

const ENTRY = `
const { buildProgram } = require(${JSON.stringify(join(ROOT, 'src/cli/main.ts'))});
const { registerSignCommand } = require(${JSON.stringify(join(ROOT, 'src/cli/commands/sign.ts'))});
const { registerWorkflowInputCommand } = require(${JSON.stringify(join(ROOT, 'src/cli/commands/workflow-input.ts'))});
const { CliContext } = require(${JSON.stringify(join(ROOT, 'src/cli/context.ts'))});
const cli = new CliContext({ stdout: process.stdout, stderr: process.stderr });
const program = buildProgram(cli);
const has = (name) => program.commands.some((c) => c.name() === name);
if (!has('sign')) registerSignCommand(program, cli);
if (!has('workflow-input')) registerWorkflowInputCommand(program, cli);
program.parseAsync(process.argv.slice(1), { from: 'user' }).then(
  () => { process.exitCode = cli.exitCode; },
  (err) => { if (err.exitCode === undefined) console.error(String(err)); process.exitCode = 2; },
);
`;

const PLAN = `apiVersion: canary/v1
id: checkout-v2
name: Checkout v2
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
roles:
  release-manager: { members: [rm@example.com] }
  sre: { members: [sre@example.com] }
  cfo: { members: [cfo@example.com], signatureRequired: true, keys: [cfo-2026] }
controls: { operators: [sre] }
analysis: { interval: 1s }
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

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('a rollout driven with the plain temporal CLI (docs/temporal-cli.md)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let shellEnv: NodeJS.ProcessEnv;
  const dir = mkdtempSync(join(tmpdir(), 'canary-temporal-cli-'));

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const cfoPrivate = { ...(await exportJWK(pair.privateKey)), kid: 'cfo-2026', alg: 'ES256' };
    const cfoPublic = { ...(await exportJWK(pair.publicKey)), kid: 'cfo-2026', alg: 'ES256' };
    env = await createDevServerEnv();
    worker = await createWorker({
      connection: env.nativeConnection,
      taskQueue: DEFAULT_TASK_QUEUE,
      workflowBundle: workflowBundle(),
      rolloutDeps: createRolloutDeps({
        flagFileRoot: dir,
        configFile: join(dir, 'config.json'),
        approverKeys: { keySet: async (_role, refs) => ({ keys: refs.includes('cfo-2026') ? [cfoPublic] : [] }) },
      }),
    });
    running = worker.run();
    writeFileSync(join(dir, 'checkout.yaml'), PLAN);
    const cli = testSetup().cli;
    if (cli.type !== 'existing-path') throw new Error('these tests need the temporal CLI binary on disk');
    shellEnv = {
      ...process.env,
      PATH: `${dirname(cli.path)}${delimiter}${process.env.PATH ?? ''}`,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: 'default',
      ROLLOUT,
      CFO_JWK: JSON.stringify(cfoPrivate),
      CANARY_ENTRY: ENTRY,
    };
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one documented command line through bash (asynchronously: the worker runs in this process). */
  const sh = async (command: string): Promise<Run> => {
    expect(DOC).toContain(command);
    const prelude = `set -euo pipefail\ncanary() { node -r ${JSON.stringify(require.resolve('tsx/cjs'))} -e "$CANARY_ENTRY" "$@"; }\n`;
    const child = spawn('bash', ['-c', prelude + command], { cwd: dir, env: shellEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
    return { code, stdout, stderr };
  };
  const ok = async (command: string): Promise<string> => {
    const run = await sh(command);
    if (run.code !== 0) throw new Error(`${command}\nexited ${run.code}:\n${run.stderr}${run.stdout}`);
    return run.stdout;
  };
  const status = async (): Promise<RolloutStatusView> =>
    (JSON.parse(await ok('temporal workflow query --workflow-id "$ROLLOUT" --type status -o json')) as { queryResult: [RolloutStatusView] }).queryResult[0];
  const eventually = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`never: ${what}`);
  };
  const waitingFor = (role: string) => async () => {
    const s = await status();
    // Before its first decision (the rollout takes its flag locks first) the CLI shows empty lists as null.
    return (s.waitingFor ?? []).some((w) => w.includes(`approval by ${role}`));
  };

  it('starts, lists, refuses, pauses, resumes and approves (signed for the CFO) a rollout to completion', async () => {
    expect(DOC).toContain(`export ROLLOUT=${ROLLOUT}`);
    await ok('canary workflow-input checkout.yaml --out rollout-input.json');
    await ok('temporal workflow start --type rolloutWorkflow --task-queue canary-rollouts --workflow-id "$ROLLOUT" --input-file rollout-input.json');

    await eventually('the rollout waits for the release manager in canary-10', waitingFor('release-manager'));
    expect(await status()).toMatchObject({ rolloutId: ROLLOUT, status: 'running', phase: 'canary-10', percent: 10 });
    await eventually('the rollout is listed as running', async () => (await ok(`temporal workflow list --query "CanaryStatus='running' AND ExecutionStatus='Running'"`)).includes(ROLLOUT));

    const refused = await sh(`temporal workflow update execute --workflow-id "$ROLLOUT" --name approve --input '{"role":"release-manager","by":"mallory@example.com"}'`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('mallory@example.com does not hold the role release-manager');

    await ok(`temporal workflow signal --workflow-id "$ROLLOUT" --name operator --input '{"command":"pause","by":"sre@example.com","role":"sre","reason":"checking dashboards"}'`);
    await eventually('the rollout is listed as paused', async () => (await ok(`temporal workflow list --query "CanaryStatus='paused'"`)).includes(ROLLOUT));
    await ok(`temporal workflow signal --workflow-id "$ROLLOUT" --name operator --input '{"command":"resume","by":"sre@example.com","role":"sre"}'`);
    await ok(`temporal workflow signal --workflow-id "$ROLLOUT" --name approve --input '{"role":"release-manager","by":"rm@example.com","reason":"dashboards clean"}'`);

    await eventually('the rollout waits for the CFO in canary-50', waitingFor('cfo'));
    expect(await status()).toMatchObject({ phase: 'canary-50', percent: 50 });
    await ok(`temporal workflow signal --workflow-id "$ROLLOUT" --name approve --input '{"role":"cfo","by":"cfo@example.com"}'`);
    await ok(`temporal workflow signal --workflow-id "$ROLLOUT" --name approve --input "$(canary sign "$ROLLOUT" --action approve --role cfo --by cfo@example.com --key-env CFO_JWK)"`);

    const closed = JSON.parse(await ok('temporal workflow result --workflow-id "$ROLLOUT" -o json')) as {
      status: string;
      closeEvent: { workflowExecutionCompletedEventAttributes: { result: [RolloutResult] } };
    };
    expect(closed.status).toBe('COMPLETED');
    const result = closed.closeEvent.workflowExecutionCompletedEventAttributes.result[0];
    expect(result).toMatchObject({ outcome: 'completed', finalPercent: 100, phase: 'full' });
    const log = result.opsLog.map((e) => `${e.action} ${e.reason}`);
    expect(log).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^pause paused by sre@example.com \(sre\): checking dashboards$/),
        expect.stringMatching(/^resume resumed by sre@example.com \(sre\)$/),
        expect.stringMatching(/^approve release-manager rm@example.com approved phase canary-50: dashboards clean/),
        expect.stringMatching(/^refuse .*approval by cfo must carry a valid signature$/),
        expect.stringMatching(/^approve cfo cfo@example.com approved phase full.*\(signature verified\)/),
      ]),
    );
    // The refused update left nothing behind; the unsigned CFO signal is the only refusal.
    expect(result.opsLog.filter((e) => e.action === 'refuse')).toHaveLength(1);
    const flags = JSON.parse(readFileSync(join(dir, 'flags.json'), 'utf8')) as { flags: Record<string, { state: string; metadata: { rolloutPercent: number } }> };
    expect(flags.flags['checkout-v2']).toMatchObject({ state: 'ENABLED', metadata: { rolloutPercent: 100 } });
  });
});
