/**
 * One `npm start` at a time per checkout: a lock file beside the dev server's state (`.temporal/dev-server/` unless
 * configured) holding the pid of the npm start that owns it and of the dev server it started. A lock whose pid no
 * longer runs is stale and taken over; the dev server its owner left behind is named so the caller can stop it.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

/** What the lock file says about the npm start that holds it. */
export interface DemoLockInfo {
  pid: number;
  /** ISO time the lock was taken. */
  since: string;
  /** The dev server this npm start runs, once it runs. */
  serverPid?: number;
  /** The server address the demo uses. */
  address?: string;
  /** The rollout the demo runs, once started. */
  workflowId?: string;
}

/** A lock this process holds. */
export interface DemoLock {
  path: string;
  info: DemoLockInfo;
  /** Rewrites the file with more about this run (the server's pid, the rollout). */
  update(more: Partial<Omit<DemoLockInfo, 'pid' | 'since'>>): void;
  /** Removes the file if it still names this process. Idempotent. */
  release(): void;
}

export type AcquireDemoLockResult =
  | { ok: true; lock: DemoLock; stale?: DemoLockInfo }
  | { ok: false; holder: DemoLockInfo };

/**
 * Takes the lock at `path` for `pid` (default this process). Refused while the pid in the file runs; a file whose pid
 * is gone (or that does not parse) is stale: it is replaced, and returned as `stale` so the caller can deal with what
 * its owner left behind. Two processes racing for a stale lock cannot both win: the file is created exclusively.
 */
export function acquireDemoLock(path: string, pid = process.pid, isAlive: (pid: number) => boolean = pidAlive): AcquireDemoLockResult {
  let stale: DemoLockInfo | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const info: DemoLockInfo = { pid, since: new Date().toISOString() };
    try {
      writeFileSync(path, `${JSON.stringify(info)}\n`, { flag: 'wx' });
      return { ok: true, lock: heldLock(path, info), ...(stale ? { stale } : {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = readText(path);
    const holder = seen === undefined ? undefined : parseLock(seen);
    if (holder && holder.pid !== pid && isAlive(holder.pid)) return { ok: false, holder };
    stale = holder ?? stale;
    // Remove only the file judged stale: another process may have replaced it meanwhile with its own live lock.
    if (seen !== undefined && readText(path) === seen) {
      try {
        unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  throw new Error(`could not take the lock ${path}: it keeps changing under us`);
}

/** Reads a lock file; undefined when it is missing or does not parse. */
export function readLock(path: string): DemoLockInfo | undefined {
  const text = readText(path);
  return text === undefined ? undefined : parseLock(text);
}

function parseLock(text: string): DemoLockInfo | undefined {
  try {
    const info = JSON.parse(text) as Partial<DemoLockInfo>;
    return typeof info.pid === 'number' && Number.isInteger(info.pid) && info.pid > 0 ? (info as DemoLockInfo) : undefined;
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** True when a process with this pid runs (one we may not signal counts too; a zombie that awaits reaping does not). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true; // No /proc (macOS): the signal check is all there is.
  }
}

function heldLock(path: string, initial: DemoLockInfo): DemoLock {
  let info = initial;
  let released = false;
  return {
    path,
    get info() {
      return info;
    },
    update(more) {
      if (released) return;
      info = { ...info, ...more };
      writeFileSync(path, `${JSON.stringify(info)}\n`);
    },
    release() {
      if (released) return;
      released = true;
      if (readLock(path)?.pid !== info.pid) return;
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}
