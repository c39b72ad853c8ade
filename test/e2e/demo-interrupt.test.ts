/**
 * Stopping `npm start` in the middle of its rollout: Ctrl-C rolls the rollout back as the plan's owner (recorded in its
 * ops log) and exits cleanly; a run that dies outright leaves its rollout, its lock and its dev server behind, and the
 * next npm start takes the lock over, stops that server and rolls the orphan back instead of resuming it. Each run is
 * src/start.ts as a child process in a scratch directory on free ports; afterwards the persisted state is read by a dev
 * server started on the same SQLite file.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { pidAlive, readLock } from '../../src/demo/demo-lock';
import { startDevServer } from '../../src/dev/dev-server';
import type { RolloutResult } from '../../src/domain/types';
import { freePorts, killServersUnder, scratchDir, stackTraceLines, startNpmStart, type NpmStartRun } from '../demo/npm-start-process';
import { testSetup } from '../helpers/temporal-env';

jest.setTimeout(120_000);

/** Reads the state npm start's dev server kept in `cwd`, with a dev server of our own on the same file. */
async function withPersistedState<T>(cwd: string, read: (env: TestWorkflowEnvironment) => Promise<T>): Promise<T> {
  const env = await startDevServer({ executable: testSetup().cli, dbFilename: join(cwd, '.temporal', 'dev-server', 'state.sqlite') });
  try {
    return await read(env);
  } finally {
    await env.teardown();
  }
}

async function runningWorkflows(env: TestWorkflowEnvironment): Promise<string[]> {
  const running: string[] = [];
  for await (const wf of env.client.workflow.list({ query: `ExecutionStatus = 'Running'` })) running.push(`${wf.type} ${wf.workflowId}`);
  return running;
}

function startedRollout(line: string): string {
  return line.split(' ')[2] as string;
}

describe('stopping npm start during its rollout', () => {
  const dirs: string[] = [];
  const runs: NpmStartRun[] = [];

  afterAll(async () => {
    for (const run of runs.filter((r) => r.alive())) {
      run.kill();
      await run.exited;
    }
    dirs.forEach(killServersUnder);
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('rolls the rollout back as the plan owner on Ctrl-C, recorded in the ops log, and exits 130 without a stack trace', async () => {
    const cwd = scratchDir('ctrl-c');
    dirs.push(cwd);
    const [port, uiPort] = (await freePorts(2)) as [number, number];
    const run = startNpmStart(cwd, ['--port', String(port), '--ui-port', String(uiPort)]);
    runs.push(run);
    const workflowId = startedRollout(await run.waitFor(/^Started rollout /, 60_000));
    await run.waitFor(/ops log: canary-10 10% enter-phase/, 30_000);

    run.interrupt();
    await expect(run.exited).resolves.toBe(130);
    expect(stackTraceLines(run.stderr())).toEqual([]);
    expect(run.stdout()).toMatch(/ops log: canary-10 0% rollback — ROLLBACK: rollback requested by release-manager@demo: npm start was interrupted \(Ctrl-C\)/);
    expect(run.stdout()).toContain('Stopped the dev server');

    await withPersistedState(cwd, async (env) => {
      expect(await runningWorkflows(env)).toEqual([]);
      const result = (await env.client.workflow.getHandle(workflowId).result()) as RolloutResult;
      expect(result).toMatchObject({ outcome: 'rolled_back', finalPercent: 0 });
      expect(result.opsLog).toContainEqual(expect.objectContaining({ action: 'rollback', actor: 'release-manager@demo', reason: expect.stringContaining('npm start was interrupted (Ctrl-C)') }));
    });
  });

  it('never resumes a rollout a killed run left behind: the next npm start takes over the stale lock, stops the leftover dev server and rolls the orphan back', async () => {
    const cwd = scratchDir('orphan');
    dirs.push(cwd);
    const [port, uiPort] = (await freePorts(2)) as [number, number];
    const args = ['--port', String(port), '--ui-port', String(uiPort)];
    const lockFile = join(cwd, '.temporal', 'dev-server', 'npm-start.lock');

    const first = startNpmStart(cwd, args);
    runs.push(first);
    const orphanId = startedRollout(await first.waitFor(/^Started rollout /, 60_000));
    const firstFlagFile = (await first.waitFor(/^Flag checkout-v2 reset to off/, 1_000)).replace(/^.* in (.*)\.$/, '$1');
    await first.waitFor(/ops log: canary-10 10% enter-phase/, 30_000);
    const lock = readLock(lockFile);
    expect(lock).toMatchObject({ workflowId: orphanId });
    first.kill();
    await first.exited;
    for (let i = 0; i < 50 && pidAlive(lock?.pid as number); i++) await new Promise((r) => setTimeout(r, 100));
    expect(pidAlive(lock?.serverPid as number)).toBe(true);

    const second = startNpmStart(cwd, args);
    runs.push(second);
    await second.waitFor(new RegExp(`^Taking over the lock .* \\(pid ${lock?.pid},`), 20_000);
    await second.waitFor(new RegExp(`^Stopping the dev server it left running \\(pid ${lock?.serverPid}`), 5_000);
    // Where it was comes from the search attributes, which a server killed mid-run may not have indexed yet.
    await second.waitFor(new RegExp(`^Rollout ${orphanId} is still running from an earlier npm start \\((canary-10 at 10%|before-start at 0%)\\): rolling it back`), 60_000);
    await second.waitFor(/^ {2}rolled back \(final traffic 0%\)/, 20_000);
    const secondId = startedRollout(await second.waitFor(/^Started rollout /, 30_000));
    const secondFlagFile = (await second.waitFor(/^Flag checkout-v2 reset to off/, 1_000)).replace(/^.* in (.*)\.$/, '$1');
    second.interrupt();
    await expect(second.exited).resolves.toBe(130);
    expect(stackTraceLines(second.stderr())).toEqual([]);
    expect(existsSync(lockFile)).toBe(false);

    // Each run wrote its own flag file: the second never reset the first's.
    expect(secondFlagFile).not.toBe(firstFlagFile);
    expect(JSON.parse(await readFile(firstFlagFile, 'utf8'))).toMatchObject({ flags: { 'checkout-v2': { metadata: { rolloutPercent: 0 } } } });

    await withPersistedState(cwd, async (env) => {
      expect(await runningWorkflows(env)).toEqual([]);
      const orphan = (await env.client.workflow.getHandle(orphanId).result()) as RolloutResult;
      expect(orphan).toMatchObject({ outcome: 'rolled_back', finalPercent: 0 });
      expect(orphan.opsLog).toContainEqual(expect.objectContaining({ action: 'rollback', actor: 'release-manager@demo', reason: expect.stringContaining('left running by an earlier npm start') }));
      // Rolled back once, by the next run: never advanced past where the killed run left it.
      expect(orphan.opsLog.filter((e) => e.action === 'enter-phase').map((e) => e.phase)).toEqual(['canary-10']);
      await expect(env.client.workflow.getHandle(secondId).result()).resolves.toMatchObject({ outcome: 'rolled_back' });
    });
  });
});
