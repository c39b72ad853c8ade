/**
 * The `canary` command as a user installs it: `npm pack` of this repository, the tarball installed into a fresh
 * project with npm, and `node_modules/.bin/canary` run from a third, unrelated directory against a real dev server
 * with a rollout worker (in this process). The in-process CLI tests run the sources as jest compiles them; only here
 * do they run as bin/canary.js loads them — plain `node` with tsx's require hook — so a module that loads under jest
 * or the `tsx` binary but not there (an `import()` of a source file) fails here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { parse, stringify } from 'yaml';
import type { RolloutStatusView } from '../../src/workflows/messages';
import { startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';
import { testSetup } from '../helpers/temporal-env';

const ROOT = resolve(__dirname, '..', '..');
const TASK_QUEUE = 'packed-cli';
const ROLLOUT = 'rollout:checkout-v2:packed-cli';
const DEMO_PLAN = join(ROOT, 'plans', 'demo.yaml');
// The canary fails 1.5% of its requests: over the gate's 1%, under the hard stop's 2%, so it holds in canary-10.
const SCENARIO = 'duration: 1h\nmetrics: { error_rate: 0.015, p95_latency_ms: 20 }';

/**
 * plans/demo.yaml with its metrics read from the worker's scenario instead of the demo service, which `npm start`
 * runs and this test does not (as `npm start` points the plan at the service it started).
 */
function demoPlanOnScenario(): string {
  const plan = parse(readFileSync(DEMO_PLAN, 'utf8')) as { providers: { metrics: object }; metrics: Record<string, { query: string }> };
  plan.providers.metrics = { 'demo-service': { type: 'scenario' } };
  for (const [name, metric] of Object.entries(plan.metrics)) metric.query = name;
  return stringify(plan);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` to its end and answers its exit code and output; never rejects on a non-zero exit. */
function run(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((done, failed) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', failed);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/**
 * Runs npm and throws with everything it printed when it fails. Without the npm_* variables `npm test` passes to its
 * scripts: they would make the inner npm take the outer one's settings (its prefix: this checkout).
 */
async function npm(args: readonly string[], cwd: string): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  const result = await run('npm', args, { cwd, env });
  if (result.code !== 0) throw new Error(`npm ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

/**
 * Packs this repository and installs the tarball into a new project under `dir`; answers the installed `canary`.
 * Offline first (`npm ci` filled the cache with every tarball); a cache without the registry's metadata (which
 * `npm ci` does not fetch) falls back to --prefer-offline.
 */
async function installPackedCli(dir: string): Promise<string> {
  const [packed] = JSON.parse(await npm(['pack', '--json', '--pack-destination', dir], ROOT)) as [{ filename: string }];
  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-canary', version: '1.0.0', private: true }));
  const install = ['install', '--no-audit', '--no-fund', join(dir, packed.filename)];
  await npm(['--offline', ...install], project).catch(() => npm(['--prefer-offline', ...install], project));
  return join(project, 'node_modules', '.bin', 'canary');
}

/** Resolves once `child` has printed a line matching `pattern` on stdout; rejects if it exits first. */
function printed(child: ChildProcess, pattern: RegExp, output: () => string): Promise<RegExpMatchArray> {
  return new Promise((done, failed) => {
    const check = () => {
      const match = pattern.exec(output());
      if (match) done(match);
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => failed(new Error(`exited ${code} before printing ${pattern}:\n${output()}`)));
    check();
  });
}

let dir: string;
let dev: DevRollouts;
let canaryBin: string;
let planFile: string;
/** Where every `canary` runs: neither this checkout nor the project it is installed in. */
let elsewhere: string;
let cliEnv: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

/** Runs the installed `canary` from {@link elsewhere} against the dev server. */
function canary(...args: string[]): Promise<Run> {
  return run(canaryBin, args, { cwd: elsewhere, env: cliEnv });
}

/** Runs `canary status --json` until `ready` holds for the view it prints; throws with the last view after 30 s. */
async function statusUntil(ready: (view: RolloutStatusView) => boolean): Promise<RolloutStatusView> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const result = await canary('status', ROLLOUT, '--json');
    if (result.code !== 0) throw new Error(`canary status exited ${result.code}: ${result.stderr}`);
    const view = JSON.parse(result.stdout) as RolloutStatusView;
    if (ready(view)) return view;
    if (Date.now() > deadline) throw new Error(`the rollout never got there; the last status:\n${result.stdout}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  testSetup();
  dir = mkdtempSync(join(tmpdir(), 'canary-packed-cli-'));
  elsewhere = join(dir, 'elsewhere');
  mkdirSync(elsewhere);
  planFile = join(dir, 'demo.yaml');
  writeFileSync(planFile, demoPlanOnScenario());
  const [installed, started] = await Promise.allSettled([
    installPackedCli(dir),
    startDevRollouts({ taskQueue: TASK_QUEUE, root: join(dir, 'rollouts'), scenario: SCENARIO }),
  ]);
  // Kept even when the install failed, so that afterAll stops the server.
  if (started.status === 'fulfilled') dev = started.value;
  if (installed.status === 'rejected') throw installed.reason;
  if (started.status === 'rejected') throw started.reason;
  canaryBin = installed.value;
  cliEnv = {
    // Not the Temporal settings of whoever runs the tests (a profile, an API key): only the server below.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_'))),
    // The shebang's `node` is the one running these tests.
    PATH: [dirname(process.execPath), process.env.PATH].join(delimiter),
    TEMPORAL_ADDRESS: dev.env.address,
    TEMPORAL_NAMESPACE: 'default',
  };
}, 240_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await dev?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed and installed canary command', () => {
  test('prints its usage with --help and exits 0', async () => {
    const result = await canary('--help');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: canary \[options\] \[command\]/);
    for (const command of ['validate', 'start', 'status', 'list', 'worker', 'api']) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  test('validates the plans in plans/ and exits 0', async () => {
    const result = await canary('validate', DEMO_PLAN, join(ROOT, 'plans', 'seed-002-ceosprint-canary.yaml'));
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(
      `${DEMO_PLAN}: ok — plan demo, 3 phases\n` +
        `${join(ROOT, 'plans', 'seed-002-ceosprint-canary.yaml')}: ok — plan ceosprint-canary-v2, 5 phases\n`,
    );
  });

  test('says a rollout that does not exist is not there, and lists no rollouts, on a fresh server', async () => {
    const status = await canary('status', 'rollout:nothing:here');
    expect(status).toEqual({
      code: 1,
      stdout: '',
      stderr: `no rollout "rollout:nothing:here" on ${dev.env.address} (namespace default); \`canary list\` shows the rollouts there\n`,
    });

    expect(await canary('list')).toEqual({ code: 0, stdout: 'no rollouts\n', stderr: '' });
  });

  test('starts the demo plan, which the worker runs: status shows it held in canary-10 by its gate, list shows it running', async () => {
    const started = await canary('start', planFile, '--id', ROLLOUT, '--task-queue', TASK_QUEUE);
    expect(started).toMatchObject({ code: 0, stderr: '' });
    expect(started.stdout).toMatch(new RegExp(`^started ${ROLLOUT} \\(plan demo, run [\\w-]+\\) on task queue ${TASK_QUEUE}\\n`));

    const view = await statusUntil((v) => v.phase === 'canary-10' && v.gates.some((g) => g.name === 'error-rate' && /0\.015/.test(g.detail ?? '')));
    expect(view).toMatchObject({ rolloutId: ROLLOUT, planId: 'demo', percent: 10 });
    // The worker flipped the flag in the file the plan names, under the worker's flag root.
    const flags = JSON.parse(readFileSync(join(dev.root, '.canary', 'flags.json'), 'utf8')) as { flags: Record<string, { metadata: { rolloutPercent: number } }> };
    expect(flags.flags['checkout-v2']?.metadata.rolloutPercent).toBe(10);

    const status = await canary('status', ROLLOUT);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(status.stdout).toMatch(new RegExp(`^${ROLLOUT} — running\\n  phase +canary-10 \\(phase 1\\) at 10%`));
    expect(status.stdout).toMatch(/^ {2}gate +error-rate: not met — error_rate = 0\.015 ratio \(condition < 0\.01\)$/m);
    expect(status.stdout).toMatch(/^ {4}\S+ canary-10 10% +enter-phase +entered canary-10 at 10% \(from 0%\)/m);

    // The list reads the visibility store, which catches up with the rollout's search attributes shortly after.
    const deadline = Date.now() + 30_000;
    let list: Run;
    do list = await canary('list', '--running');
    while (list.code === 0 && !list.stdout.includes(ROLLOUT) && Date.now() < deadline);
    expect(list.stderr).toBe('');
    expect(list.stdout).toMatch(new RegExp(`^${ROLLOUT} +\\w+ +running +canary-10 +10% +demo +\\d{4}-`, 'm'));
  }, 90_000);

  test('serves the HTTP API with `canary api` until SIGTERM: health, and a rollout read with a bearer token', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'packed', alg: 'ES256' }] }));

    const api = spawn(canaryBin, ['api', '--port', '0', '--jwks', jwks], { cwd: elsewhere, env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(api);
    let output = '';
    api.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    api.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    const exited = new Promise<number | null>((done) => api.on('exit', (code) => done(code)));
    const [, url] = await printed(api, /^canary api listening on (http:\/\/127\.0\.0\.1:\d+) /m, () => output);

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });

    const token = await bearerToken(privateKey);
    const rollout = await fetch(`${url}/rollouts/${encodeURIComponent(ROLLOUT)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(rollout.status).toBe(200);
    expect(await rollout.json()).toMatchObject({ rolloutId: ROLLOUT, planId: 'demo', phase: 'canary-10', percent: 10 });

    api.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

async function bearerToken(key: KeyLike): Promise<string> {
  return new SignJWT({ roles: ['release-manager'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'packed' })
    .setSubject('rm@example.com')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}
