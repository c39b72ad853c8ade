/**
 * `canary list --status running` and the HTTP API's `GET /rollouts?status=running` list a rollout as running only
 * while its workflow runs. A workflow terminated (or timed out) from outside keeps the `CanaryStatus` it last
 * published — `running` — so the filter must look at the execution status too: such a rollout is left out of the
 * running ones and shown, without a filter, as running beside its workflow's `terminated`/`timed-out`. Against a real
 * dev server with the rollout worker; every read of the list waits for visibility to catch up.
 */
import { exportJWK, generateKeyPair, type KeyLike, SignJWT } from 'jose';
import { startHttpApi, type RunningHttpApi } from '../../src/api/serve';
import { getRollout, rolloutStatus, startRollout, type RolloutSummary } from '../../src/client';
import { main } from '../../src/cli/main';
import { parsePlanText } from '../../src/plan/load';
import type { RolloutStatusView } from '../../src/workflows/messages';
import { startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';
import { testSetup } from '../helpers/temporal-env';

const TASK_QUEUE = 'cli-list-running';

/** Stays in its first phase (a minimum of an hour) until it is stopped; one flag per rollout. */
const plan = (flag: string) => {
  const loaded = parsePlanText(
    `
apiVersion: canary/v1
id: list-${flag}
name: List ${flag}
target: { flags: [${flag}], provider: flagd, environment: list }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
analysis: { interval: 1s }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 1h }
`,
    `${flag}.yaml`,
  );
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dev: DevRollouts;
let api: RunningHttpApi;
let bearer: string;
let cliEnv: NodeJS.ProcessEnv;

async function canary(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } }, { env: cliEnv });
  return { code, stdout, stderr };
}

/** `canary list --json …` as summaries. */
async function listed(...argv: string[]): Promise<Array<Pick<RolloutSummary, 'workflowId' | 'status' | 'executionStatus'>>> {
  const run = await canary('list', '--json', ...argv);
  if (run.code !== 0) throw new Error(`canary list exited ${run.code}: ${run.stderr}`);
  return run.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RolloutSummary);
}

/** `GET /rollouts<query>` as summaries. */
async function listedByApi(query: string): Promise<Array<Pick<RolloutSummary, 'workflowId' | 'status' | 'executionStatus'>>> {
  const response = await fetch(`${api.url}/rollouts${query}`, { headers: { authorization: `Bearer ${bearer}` } });
  if (response.status !== 200) throw new Error(`GET /rollouts${query} answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { rollouts: RolloutSummary[] }).rollouts;
}

/** Retries `read` until `ready` holds for what it answers (visibility is eventually consistent); at most 20 s. */
async function eventually<T>(what: string, read: () => Promise<T>, ready: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (ready(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: never happened; last read ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function until(id: string, ready: (view: RolloutStatusView) => boolean): Promise<void> {
  await eventually(`${id} gets there`, () => rolloutStatus(getRollout(dev.env.client, id)), ready);
}

const entry = <T extends { workflowId: string }>(rollouts: readonly T[], id: string): T | undefined => rollouts.find((r) => r.workflowId === id);

beforeAll(async () => {
  testSetup();
  dev = await startDevRollouts({ taskQueue: TASK_QUEUE });
  cliEnv = { ...process.env, TEMPORAL_ADDRESS: dev.env.address, TEMPORAL_NAMESPACE: 'default' };
  const issuer = await generateKeyPair('ES256');
  api = await startHttpApi({
    client: dev.env.client,
    taskQueue: TASK_QUEUE,
    port: 0,
    auth: { jwks: { keys: [{ ...(await exportJWK(issuer.publicKey)), kid: 'list', alg: 'ES256' }] } },
    rateLimit: false,
  });
  bearer = await token(issuer.privateKey);
}, 120_000);

afterAll(async () => {
  await api?.close();
  await dev?.stop();
});

async function token(key: KeyLike): Promise<string> {
  return new SignJWT({ roles: ['sre'] }).setProtectedHeader({ alg: 'ES256', kid: 'list' }).setSubject('sre@example.com').setIssuedAt().setExpirationTime('10m').sign(key);
}

describe('listing running rollouts reads the workflow execution status too', () => {
  const live = 'list-live';
  const terminated = 'list-terminated';
  const timedOut = 'list-timed-out';

  test('a rollout whose workflow was terminated is not running: absent from --status running and ?status=running, listed as terminated', async () => {
    await startRollout(dev.env.client, plan('list-live-flag'), { workflowId: live, taskQueue: TASK_QUEUE });
    await startRollout(dev.env.client, plan('list-terminated-flag'), { workflowId: terminated, taskQueue: TASK_QUEUE });
    await until(live, (v) => v.phaseIndex === 0);
    await until(terminated, (v) => v.phaseIndex === 0);
    // Both running as far as the search attributes go, before anything is terminated.
    await eventually(
      'both are listed as running',
      () => listed('--status', 'running'),
      (rollouts) => entry(rollouts, live) !== undefined && entry(rollouts, terminated) !== undefined,
    );

    await dev.env.client.workflow.getHandle(terminated).terminate('operator ran temporal workflow terminate');
    // Visibility has caught up once the plain list says terminated; the rollout's own status stays `running`.
    const all = await eventually('the list shows the terminated workflow', () => listed(), (rollouts) => entry(rollouts, terminated)?.executionStatus === 'TERMINATED');
    expect(entry(all, terminated)).toMatchObject({ status: 'running', executionStatus: 'TERMINATED' });
    expect(entry(all, live)).toMatchObject({ status: 'running', executionStatus: 'RUNNING' });

    const running = await listed('--status', 'running');
    expect(entry(running, terminated)).toBeUndefined();
    expect(entry(running, live)).toMatchObject({ status: 'running', executionStatus: 'RUNNING' });

    const table = await canary('list', '--status', 'running');
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(table.stdout).not.toContain(terminated);
    expect(table.stdout).toMatch(new RegExp(`^${live} +running +running +canary-10 +10% `, 'm'));
    expect((await canary('list')).stdout).toMatch(new RegExp(`^${terminated} +running +terminated +canary-10 +10% `, 'm'));

    const byApi = await listedByApi('?status=running');
    expect(entry(byApi, terminated)).toBeUndefined();
    expect(entry(byApi, live)).toMatchObject({ status: 'running', executionStatus: 'RUNNING' });
    expect(entry(await listedByApi(''), terminated)).toMatchObject({ status: 'running', executionStatus: 'TERMINATED' });
  });

  test('a rollout whose workflow timed out is not running either', async () => {
    // Started as a raw `temporal workflow start` with an execution timeout would: it times out in its first phase.
    await dev.env.client.workflow.start('rolloutWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: timedOut,
      args: [{ plan: plan('list-timed-out-flag') }],
      workflowExecutionTimeout: '4s',
    });
    await until(timedOut, (v) => v.phaseIndex === 0);
    const all = await eventually('the list shows the timed-out workflow', () => listed(), (rollouts) => entry(rollouts, timedOut)?.executionStatus === 'TIMED_OUT');
    expect(entry(all, timedOut)).toMatchObject({ status: 'running', executionStatus: 'TIMED_OUT' });
    expect(entry(await listed('--status', 'running'), timedOut)).toBeUndefined();
    expect(entry(await listedByApi('?status=running'), timedOut)).toBeUndefined();
    // The rollout still running is listed as running all along.
    expect(entry(await listed('--status', 'running'), live)).toMatchObject({ status: 'running', executionStatus: 'RUNNING' });
  }, 60_000);
});
