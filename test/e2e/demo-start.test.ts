/**
 * `npm start` as a user runs it, without --exit: the demo runs, then the dev server, its UI and the worker stay up
 * until Ctrl-C, and Ctrl-C stops everything cleanly. Runs src/start.ts as a child process in a scratch directory on
 * free ports (test/demo/npm-start-process.ts).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startDevServer } from '../../src/dev/dev-server';
import { statusQuery } from '../../src/workflows/messages';
import { freePorts, killServersUnder, scratchDir, stackTraceLines, startNpmStart, type NpmStartRun } from '../demo/npm-start-process';
import { testSetup } from '../helpers/temporal-env';

jest.setTimeout(150_000);

describe('npm start without --exit', () => {
  const cwd = scratchDir('stays-up');
  let run: NpmStartRun | undefined;

  afterAll(async () => {
    if (run?.alive()) {
      run.kill();
      await run.exited;
    }
    killServersUnder(cwd);
    await rm(cwd, { recursive: true, force: true });
  });

  it('stays up after the demo with the UI and a worker answering queries, and Ctrl-C then stops everything with exit code 0, no stack trace and no rollout left running', async () => {
    const [port, uiPort] = (await freePorts(2)) as [number, number];
    run = startNpmStart(cwd, ['--port', String(port), '--ui-port', String(uiPort)]);
    const started = await run.waitFor(/^Started rollout /, 60_000);
    const workflowId = started.split(' ')[2] as string;
    await run.waitFor(/^The demo worked: the rollout completed/, 100_000);
    await run.waitFor(/Press Ctrl-C to stop everything/, 5_000);

    // Today's failure: the process exited here. Give it time to do so.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(run.alive()).toBe(true);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const client = new Client({ connection });
      // A query on a finished workflow is answered by a worker: the UI's Queries tab needs one.
      await expect(client.workflow.getHandle(workflowId).query(statusQuery)).resolves.toMatchObject({ status: 'completed', percent: 100 });
    } finally {
      await connection.close();
    }

    run.interrupt();
    await expect(run.exited).resolves.toBe(0);
    expect(stackTraceLines(run.stderr())).toEqual([]);
    expect(run.stdout()).toContain('Stopped the dev server');

    // The state the dev server kept: nothing is left running (no rollout, no flag lock).
    const env = await startDevServer({ executable: testSetup().cli, dbFilename: join(cwd, '.temporal', 'dev-server', 'state.sqlite') });
    try {
      const running: string[] = [];
      for await (const wf of env.client.workflow.list({ query: `ExecutionStatus = 'Running'` })) running.push(`${wf.type} ${wf.workflowId}`);
      expect(running).toEqual([]);
      const description = await env.client.workflow.getHandle(workflowId).describe();
      expect(description.status.name).toBe('COMPLETED');
    } finally {
      await env.teardown();
    }
  });
});
