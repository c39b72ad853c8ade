/**
 * `canary worker` as its own process against a dev server: it runs a rollout to completion, serves the SDK's
 * Prometheus metrics, logs JSON lines on stderr, and exits 0 after SIGTERM.
 *
 * The process is `node bin/canary.js worker …`: the installed `canary` command (`npm run worker` runs the same program
 * through the tsx CLI, which adds a parent process that relays signals).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { rolloutResult, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import { createDevServerEnv, testSetup } from '../helpers/temporal-env';

const ROOT = resolve(__dirname, '..', '..');
const TASK_QUEUE = 'worker-process-e2e';

const PLAN = `
apiVersion: canary/v1
id: worker-process
name: Worker process
target: { flags: [search-v3], provider: flagd, environment: e2e }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
channels:
  worker-log: { type: log }
analysis: { interval: 1s }
phases:
  - { name: canary-20, percent: 20, minDuration: 1s }
  - { name: full, percent: 100, minDuration: 1s }
notifications:
  - on: [completed]
    channels: [worker-log]
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface LogLine {
  time: string;
  level: string;
  msg: string;
  [key: string]: unknown;
}

describe('the canary worker process', () => {
  let env: TestWorkflowEnvironment;
  let child: ChildProcess;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let stderr = '';
  let metricsPort: number;
  const root = mkdtempSync(join(tmpdir(), 'canary-worker-process-'));

  const logLines = (): LogLine[] =>
    stderr
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as LogLine);

  const waitForLog = async (msg: string): Promise<void> => {
    for (let i = 0; i < 600; i++) {
      if (stderr.split('\n').some((line) => line.includes(`"msg":"${msg}"`))) return;
      if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}) before logging "${msg}":\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the worker never logged "${msg}":\n${stderr}`);
  };

  beforeAll(async () => {
    env = await createDevServerEnv();
    metricsPort = await freePort();
    const args = [
      ...[join(ROOT, 'bin', 'canary.js'), 'worker'],
      ...['--task-queue', TASK_QUEUE, '--flag-root', root, '--config-file', join(root, 'config.json')],
      ...['--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1', '--log-level', 'info'],
      ...['--workflow-bundle', testSetup().bundlePath],
    ];
    child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
    await waitForLog('worker running');
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await env?.teardown();
    rmSync(root, { recursive: true, force: true });
  });

  it('runs a rollout to completion, serves temporal_ metrics and exits 0 after SIGTERM with JSON log lines', async () => {
    const parsed = parsePlanText(PLAN, 'worker-process.yaml');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const handle = await startRollout(env.client, parsed.plan, { workflowId: 'rollout:search-v3:e2e', taskQueue: TASK_QUEUE });

    const result = await rolloutResult(handle);
    expect(result.outcome).toBe('completed');
    const flags = JSON.parse(readFileSync(join(root, 'flags.json'), 'utf8')) as { flags: Record<string, { state: string; metadata: { rolloutPercent: number } }> };
    expect(flags.flags['search-v3']).toMatchObject({ state: 'ENABLED', metadata: { rolloutPercent: 100 } });

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^temporal_workflow_completed\{.*task_queue="worker-process-e2e".*\} 1$/m);
    expect(metrics).toMatch(/^temporal_activity_execution_latency_(count|bucket)\{.*activity_type="setFlags"/m);

    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });

    const lines = logLines();
    for (const line of lines) expect(line).toEqual(expect.objectContaining({ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), level: expect.stringMatching(/^(trace|debug|info|warn|error)$/), msg: expect.any(String) }));
    const messages = lines.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['worker running', 'shutting down', 'worker stopped']));
    expect(lines.find((l) => l.msg === 'worker running')).toMatchObject({ address: env.address, taskQueue: TASK_QUEUE, metrics: `http://127.0.0.1:${metricsPort}/metrics` });
    expect(lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
    // The plan's `log` channel writes through the activity logger: the same JSON lines.
    expect(lines.some((l) => l.sdkComponent === 'activity' && /completed/.test(l.msg))).toBe(true);
  });
});
