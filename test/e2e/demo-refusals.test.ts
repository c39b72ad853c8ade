/**
 * What `npm start` refuses before it starts anything: ports held by something else (today it printed a raw "address
 * already in use" and ran the demo on whatever server held the port) and a second npm start in the same checkout.
 * src/start.ts runs as a child process in a scratch directory (test/demo/npm-start-process.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createDevServerEnv } from '../helpers/temporal-env';
import { freePorts, scratchDir, stackTraceLines, startNpmStart } from '../demo/npm-start-process';

jest.setTimeout(60_000);

function listen(port: number): Promise<Server> {
  return new Promise((resolveServer, reject) => {
    // Holds the port and hangs up on whoever calls (npm start probes what listens).
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolveServer(server));
  });
}

describe('npm start refuses clearly', () => {
  const dirs: string[] = [];
  const holders: Server[] = [];
  let env: TestWorkflowEnvironment | undefined;

  afterAll(async () => {
    await Promise.all(holders.map((server) => new Promise((r) => server.close(r))));
    await env?.teardown();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('refuses a gRPC port another process listens on, naming the port and free ports to use instead, and exits 1', async () => {
    const cwd = scratchDir('port-taken');
    dirs.push(cwd);
    const [port, uiPort] = (await freePorts(2)) as [number, number];
    holders.push(await listen(port));
    const run = startNpmStart(cwd, ['--port', String(port), '--ui-port', String(uiPort), '--exit']);
    await expect(run.exited).resolves.toBe(1);
    expect(run.stderr()).toContain(`npm start: port ${port} (Temporal gRPC) is taken by another process (not a Temporal server), so the demo cannot start its own dev server.`);
    expect(run.stderr()).toMatch(/Stop what holds it, or choose free ports: npm start -- --port \d+ --ui-port \d+\./);
    expect(run.stdout()).not.toMatch(/Starting the Temporal dev server|Started rollout/);
    expect(stackTraceLines(run.stderr())).toEqual([]);
  });

  it('refuses a port a Temporal server of someone else holds instead of running the demo on it, and says how to use that server', async () => {
    const cwd = scratchDir('server-on-port');
    dirs.push(cwd);
    env = await createDevServerEnv();
    const address = env.connection.options.address;
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    const [uiPort] = (await freePorts(1)) as [number];
    const run = startNpmStart(cwd, ['--port', String(port), '--ui-port', String(uiPort), '--exit']);
    await expect(run.exited).resolves.toBe(1);
    expect(run.stderr()).toMatch(new RegExp(`port ${port} \\(Temporal gRPC\\) is taken by a Temporal server .*that this npm start did not start`));
    expect(run.stderr()).toContain(`or run the demo on that server: TEMPORAL_ADDRESS=localhost:${port} npm start.`);
    expect(run.stdout()).not.toContain('Started rollout');
    let rollouts = 0;
    for await (const _ of env.client.workflow.list({ query: `WorkflowType = 'rolloutWorkflow'` })) rollouts++;
    expect(rollouts).toBe(0);
  });

  it('refuses a UI port another process listens on', async () => {
    const cwd = scratchDir('ui-port-taken');
    dirs.push(cwd);
    const [port, uiPort] = (await freePorts(2)) as [number, number];
    holders.push(await listen(uiPort));
    const run = startNpmStart(cwd, ['--port', String(port), '--ui-port', String(uiPort), '--exit']);
    await expect(run.exited).resolves.toBe(1);
    expect(run.stderr()).toContain(`npm start: port ${uiPort} (Temporal UI) is taken by another process (not a Temporal server)`);
    expect(run.stdout()).not.toContain('Starting the Temporal dev server');
  });

  it('refuses to run a second demo in a checkout while the npm start holding its lock runs, and leaves that lock alone', async () => {
    const cwd = scratchDir('locked');
    dirs.push(cwd);
    const stateDir = join(cwd, '.temporal', 'dev-server');
    mkdirSync(stateDir, { recursive: true });
    const lock = `${JSON.stringify({ pid: process.pid, since: '2026-01-01T00:00:00.000Z', address: '127.0.0.1:7233' })}\n`;
    writeFileSync(join(stateDir, 'npm-start.lock'), lock);
    const [port, uiPort] = (await freePorts(2)) as [number, number];
    const run = startNpmStart(cwd, ['--port', String(port), '--ui-port', String(uiPort), '--exit']);
    await expect(run.exited).resolves.toBe(1);
    expect(run.stderr()).toContain(`npm start: another npm start (pid ${process.pid}, since 2026-01-01T00:00:00.000Z) is running the demo in this checkout on 127.0.0.1:7233.`);
    expect(readFileSync(join(stateDir, 'npm-start.lock'), 'utf8')).toBe(lock);
  });
});
