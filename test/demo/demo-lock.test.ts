import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDemoLock, pidAlive, readLock } from '../../src/demo/demo-lock';

/** The pid of a process that has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  return Number(pid);
}

describe('the npm start lock', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'canary-demo-lock-'));
    path = join(dir, 'npm-start.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is taken when free, names its holder and is gone after release', () => {
    const acquired = acquireDemoLock(path);
    expect(acquired).toMatchObject({ ok: true });
    if (!acquired.ok) return;
    acquired.lock.update({ serverPid: 4242, workflowId: 'rollout:checkout-v2:demo-x' });
    expect(readLock(path)).toMatchObject({ pid: process.pid, serverPid: 4242, workflowId: 'rollout:checkout-v2:demo-x' });
    acquired.lock.release();
    expect(readLock(path)).toBeUndefined();
  });

  it('is refused while the pid that holds it runs, and the holder is named', () => {
    const holder = { pid: process.ppid, since: '2026-01-01T00:00:00.000Z' };
    writeFileSync(path, JSON.stringify(holder));
    expect(acquireDemoLock(path)).toEqual({ ok: false, holder });
    expect(readLock(path)).toEqual(holder);
  });

  it('is taken over from a pid that no longer runs, returning what the dead holder left', () => {
    const stale = { pid: deadPid(), since: '2026-01-01T00:00:00.000Z', serverPid: 4242 };
    expect(pidAlive(stale.pid)).toBe(false);
    writeFileSync(path, JSON.stringify(stale));
    const acquired = acquireDemoLock(path);
    expect(acquired).toMatchObject({ ok: true, stale });
    expect(readLock(path)?.pid).toBe(process.pid);
  });

  it('treats a file that does not parse as stale', () => {
    writeFileSync(path, 'not json');
    expect(acquireDemoLock(path)).toMatchObject({ ok: true });
  });

  it('release leaves a lock that another process has taken since alone', () => {
    const acquired = acquireDemoLock(path);
    if (!acquired.ok) throw new Error('not acquired');
    const other = { pid: process.ppid, since: '2026-01-01T00:00:00.000Z' };
    writeFileSync(path, JSON.stringify(other));
    acquired.lock.release();
    expect(readFileSync(path, 'utf8')).toBe(JSON.stringify(other));
  });
});
