/**
 * What `canary` says, and how fast, when something it needs is missing: no worker polls the rollout's task queue, the
 * server cannot be reached, the rollout has ended; and how it finds the server — the connection flags read together
 * with the TEMPORAL_* variables and envconfig profiles. A real dev server with no worker at all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { configuredServer, startRollout, workflowTaskPollers } from '../../src/client';
import { main } from '../../src/cli/main';
import { connectionEnv } from '../../src/cli/connection-options';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { createDevServerEnv, testSetup, workflowBundle } from '../helpers/temporal-env';

const TASK_QUEUE = 'cli-no-worker';

const PLAN = `
apiVersion: canary/v1
id: cli-no-worker
name: CLI without a worker
owner: sre@example.com
target: { flags: [FLAG], provider: flagd, environment: cli }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
phases:
  - { name: canary-10, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1h }
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

let env: TestWorkflowEnvironment;
let cliEnv: NodeJS.ProcessEnv;
const dir = mkdtempSync(join(tmpdir(), 'canary-cli-connection-'));

/** Runs `canary` in-process and times it. */
async function canary(argv: string[], options: { env?: NodeJS.ProcessEnv; interrupted?: Promise<void>; updateTimeoutMs?: number } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const started = Date.now();
  const code = await main(
    argv,
    { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } },
    { env: options.env ?? cliEnv, interrupted: options.interrupted, updateTimeoutMs: options.updateTimeoutMs },
  );
  return { code, stdout, stderr, ms: Date.now() - started };
}

function plan(flag: string): Plan {
  const parsed = parsePlanText(PLAN.replace('FLAG', flag), 'no-worker.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.plan;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

beforeAll(async () => {
  testSetup();
  env = await createDevServerEnv();
  cliEnv = { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', CANARY_USER: 'sre@example.com' };
  for (const key of Object.keys(cliEnv)) if (key.startsWith('TEMPORAL_') && key !== 'TEMPORAL_ADDRESS' && key !== 'TEMPORAL_NAMESPACE') delete cliEnv[key];
  await startRollout(env.client, plan('no-worker-flag'), { workflowId: 'cli-no-worker', taskQueue: TASK_QUEUE });
}, 120_000);

afterAll(async () => {
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

describe('no worker polls the task queue', () => {
  const noWorker = () => `no worker is polling task queue ${TASK_QUEUE} on ${env.address}/default — start one with \`canary worker --task-queue ${TASK_QUEUE}\`\n`;

  test.each([
    [['approve', 'cli-no-worker', '--role', 'release-manager']],
    [['reject', 'cli-no-worker', '--role', 'release-manager']],
    [['pause', 'cli-no-worker', '--role', 'sre']],
    [['rollback', 'cli-no-worker', '--reason', 'test']],
    [['attest', 'cli-no-worker', 'drill-done']],
    [['consume-token', 'cli-no-worker', 'GO-1', '--role', 'release-manager']],
    [['status', 'cli-no-worker']],
    [['watch', 'cli-no-worker']],
    [['report', 'cli-no-worker']],
  ])('canary %j answers within 5 s that no worker polls the task queue, and how to start one', async (argv) => {
    const run = await canary(argv);
    expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({ code: 1, stdout: '', stderr: noWorker() });
    expect(run.ms).toBeLessThan(5_000);
  });

  test('start starts the rollout at once and says that it waits for a worker', async () => {
    const file = join(dir, 'start.yaml');
    writeFileSync(file, PLAN.replace('FLAG', 'no-worker-start-flag'));
    const run = await canary(['start', file, '--id', 'cli-no-worker-start', '--task-queue', TASK_QUEUE, '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ rolloutId: 'cli-no-worker-start', taskQueue: TASK_QUEUE, workerPolling: false });
    expect(run.stderr).toBe(noWorker().replace(/\n$/, '; the rollout waits until one does\n'));
    expect(run.ms).toBeLessThan(4_000);
    expect((await env.client.workflow.getHandle('cli-no-worker-start').describe()).status.name).toBe('RUNNING');
  });
});

describe('a worker that stopped a moment ago', () => {
  test('is still listed by the server: a message waits at most the deadline, then says when a worker last polled', async () => {
    const queue = 'cli-stopped-worker';
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: queue, workflowBundle: workflowBundle() });
    const running = worker.run();
    while ((await workflowTaskPollers(env.client, queue)).length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    worker.shutdown();
    await running;
    await startRollout(env.client, plan('stopped-worker-flag'), { workflowId: 'cli-stopped-worker', taskQueue: queue });

    const run = await canary(['approve', 'cli-stopped-worker', '--role', 'release-manager'], { updateTimeoutMs: 1_000 });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^cli-stopped-worker did not answer within 1s on ${escape(env.address)}/default; a worker last polled task queue ${queue} at \\d{4}-\\S+Z: ` +
          `if that worker has stopped, start one with \`canary worker --task-queue ${queue}\`; if it runs, its log says what holds it up\n$`,
      ),
    );
    expect(run.ms).toBeLessThan(4_000);
  });
});

describe('a finished rollout', () => {
  test('is "finished (terminated at …)" for a message, not "no rollout"; list shows the workflow terminated beside the rollout status', async () => {
    const id = 'cli-terminated';
    const handle = await startRollout(env.client, plan('terminated-flag'), { workflowId: id, taskQueue: TASK_QUEUE });
    await handle.terminate('test');
    const closeTime = (await handle.describe()).closeTime as Date;
    const at = closeTime.toISOString().replace(/\.\d{3}Z$/, 'Z');

    const run = await canary(['approve', id, '--role', 'release-manager']);
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: `${id} is finished (terminated at ${at}); nothing more can be sent to it — \`canary report ${id}\` shows what happened\n` });

    // status reads an ended rollout from the server alone: no worker needed.
    const status = await canary(['status', id]);
    expect(status).toMatchObject({ code: 0, stdout: `${id} — finished (terminated at ${at}) without a rollout result (its workflow was ended outside canary)\n`, stderr: '' });

    // Visibility is eventually consistent: list until the terminated rollout shows, for at most 10 s.
    const deadline = Date.now() + 10_000;
    let list = await canary(['list']);
    while (!new RegExp(`^${id} .* terminated `, 'm').test(list.stdout) && Date.now() < deadline) list = await canary(['list']);
    expect(list.stdout.split('\n')[0]).toMatch(/^ROLLOUT +STATUS +WORKFLOW +PHASE +PERCENT +PLAN +STARTED$/);
    expect(list.stdout).toMatch(new RegExp(`^${id} +pending +terminated +before-start +0% +cli-no-worker +\\d{4}-`, 'm'));
    expect(list.stdout).toMatch(/^cli-no-worker +pending +running +/m);
    // Flag locks are workflows too, but never rollouts.
    expect(list.stdout).not.toContain('canary-flag-lock:');
  });
});

describe('a server that cannot be reached', () => {
  test.each([[['list']], [['status', 'cli-no-worker']], [['approve', 'cli-no-worker', '--role', 'release-manager']]])(
    'canary %j answers within a few seconds with the address',
    async (argv) => {
      const address = `127.0.0.1:${await closedPort()}`;
      const run = await canary(argv, { env: { ...cliEnv, TEMPORAL_ADDRESS: address } });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`^canary: cannot reach Temporal at ${escape(address)} \\(namespace default\\) within [\\d.]+s: .*--address`));
      expect(run.ms).toBeLessThan(6_000);
    },
  );
});

describe('connection flags, read with envconfig', () => {
  test('--address overrides TEMPORAL_ADDRESS', async () => {
    const run = await canary(['list', '--address', env.address], { env: { ...cliEnv, TEMPORAL_ADDRESS: `127.0.0.1:${await closedPort()}` } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('cli-no-worker ');
  });

  test('--profile picks a profile of the TOML config file; --namespace overrides its namespace', async () => {
    const config = join(dir, 'temporal.toml');
    writeFileSync(config, `[profile.staging]\naddress = "${env.address}"\nnamespace = "default"\n`);
    const profileEnv: NodeJS.ProcessEnv = { ...cliEnv, TEMPORAL_CONFIG_FILE: config };
    delete profileEnv.TEMPORAL_ADDRESS;
    delete profileEnv.TEMPORAL_NAMESPACE;
    const run = await canary(['status', 'cli-no-worker', '--profile', 'staging'], { env: profileEnv });
    // Reached the server through the profile: the rollout is there, only its worker is missing.
    expect(run.stderr).toMatch(new RegExp(`^no worker is polling task queue ${TASK_QUEUE} on ${escape(env.address)}/default — start one with \`canary worker --task-queue ${TASK_QUEUE} --profile staging\``));

    const other = await canary(['status', 'cli-no-worker', '--profile', 'staging', '--namespace', 'elsewhere'], { env: profileEnv });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/elsewhere/);

    const missing = await canary(['list', '--profile', 'prod'], { env: profileEnv });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^canary: cannot read the Temporal connection settings: .*prod.*--profile/);
  });

  test('--tls against a server without TLS fails within a few seconds, naming the address', async () => {
    const run = await canary(['list', '--tls']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^canary: cannot reach Temporal at ${escape(env.address)} `));
    expect(run.ms).toBeLessThan(6_000);
  });

  test('a TLS file that cannot be read is one line naming the settings to check', async () => {
    const run = await canary(['list', '--tls-ca-path', join(dir, 'no-such-ca.pem')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^canary: cannot read the Temporal connection settings: .*no-such-ca\.pem.*--tls-\* files/);
  });

  test('flags become the envconfig settings: API key, mTLS files, CA, server name; TLS turns on with them, --no-tls turns it off', () => {
    const cert = join(dir, 'client.pem');
    const key = join(dir, 'client.key');
    const ca = join(dir, 'ca.pem');
    writeFileSync(cert, 'CERT');
    writeFileSync(key, 'KEY');
    writeFileSync(ca, 'CA');
    const base = { TEMPORAL_ADDRESS: 'from-env:7233', TEMPORAL_NAMESPACE: 'env-ns' };
    const server = configuredServer(
      connectionEnv({ address: 'cloud.example:7233', namespace: 'prod.acct', tlsCertPath: cert, tlsKeyPath: key, tlsCaPath: ca, tlsServerName: 'prod.example' }, base),
    );
    expect(server.address).toBe('cloud.example:7233');
    expect(server.namespace).toBe('prod.acct');
    const tls = server.connectionOptions.tls as { clientCertPair?: { crt: Uint8Array; key: Uint8Array }; serverRootCACertificate?: Uint8Array; serverNameOverride?: string };
    const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString() : undefined);
    expect(text(tls.clientCertPair?.crt)).toBe('CERT');
    expect(text(tls.clientCertPair?.key)).toBe('KEY');
    expect(text(tls.serverRootCACertificate)).toBe('CA');
    expect(tls.serverNameOverride).toBe('prod.example');

    const withKey = configuredServer(connectionEnv({ apiKey: 'secret' }, base));
    expect(withKey.address).toBe('from-env:7233');
    expect(withKey.connectionOptions.apiKey).toBe('secret');
    expect(withKey.connectionOptions.tls).toBe(true);
    expect(configuredServer(connectionEnv({ apiKey: 'secret', tls: false }, base)).connectionOptions.tls).toBe(false);
  });
});

describe('long-running commands print their startup line as JSON with --json', () => {
  test('canary api --json', async () => {
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [] }));
    const run = await canary(['api', '--json', '--jwks', jwks, '--port', '0'], { interrupted: Promise.resolve() });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ listening: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), openapi: expect.stringMatching(/\/openapi\.json$/) });
  });

  test('canary alert-intake --json', async () => {
    const run = await canary(['alert-intake', '--json', '--port', '0'], { interrupted: Promise.resolve() });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ listening: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/.+/) });
  });
});
