/**
 * Runs `npm start` (src/start.ts compiled by tsx) as a child process in its own process group, the way a terminal runs
 * it: `interrupt()` sends SIGINT to the whole group as Ctrl-C does. Each run gets a scratch working directory (its
 * .temporal/dev-server state, lock and .canary flag files stay there) and free ports, so tests never touch a
 * developer's own `.temporal/dev-server` or ports 7233/8233.
 *
 * It runs `node --require tsx/cjs src/start.ts`, tsx's require hook inside one node process as bin/canary.js does, not
 * the `tsx` binary: that binary runs the script in a second node process and relays signals to it, and kills it
 * outright (SIGKILL) when it has not acknowledged a signal within about 60 ms — which a busy event loop on a loaded
 * machine sometimes misses, so Ctrl-C would randomly skip npm start's cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const START = join(ROOT, 'src', 'start.ts');

export interface NpmStartRun {
  child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first line matching `pattern` on stdout or stderr; rejects after `timeoutMs` or on exit. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** The exit code (or 128 + signal number when a signal ended it). */
  exited: Promise<number>;
  /** SIGINT to the process group: what Ctrl-C in a terminal does. */
  interrupt(): void;
  /** SIGKILL to the process group (the dev server runs in a group of its own and survives). */
  kill(): void;
  alive(): boolean;
}

/** A scratch directory to run npm start in. */
export function scratchDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `canary-npm-start-${name}-`));
}

/** `count` distinct ports nothing listens on right now (held open together while they are picked). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolveServer, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolveServer(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((r) => server.close(r))));
  return ports;
}

/** Starts `npm start -- <args>` in `cwd`, with no Temporal connection settings and no CI variable inherited. */
export function startNpmStart(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): NpmStartRun {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(TEMPORAL_|CI$|CANARY_DEMO_)/.test(key)));
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), START, ...args], {
    cwd,
    env: { ...inherited, NO_COLOR: '1', TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json'), ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    notify();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    notify();
  });
  let running = true;
  const exited = new Promise<number>((resolveExit) => {
    child.once('exit', (code, signal) => {
      running = false;
      notify();
      resolveExit(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15));
    });
  });
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), signal);
    } catch {
      // Already gone.
    }
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    interrupt: () => group('SIGINT'),
    kill: () => group('SIGKILL'),
    alive: () => running,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolveLine, reject) => {
        const check = () => {
          const line = `${out}\n${err}`.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) return done(() => resolveLine(line));
          if (!running) return done(() => reject(new Error(`npm start exited before printing ${pattern}\n--- stdout\n${out}\n--- stderr\n${err}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`npm start did not print ${pattern} within ${timeoutMs} ms\n--- stdout\n${out}\n--- stderr\n${err}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Lines that look like a stack trace or an uncaught error. */
export function stackTraceLines(text: string): string[] {
  return text.split('\n').filter((line) => /^\s+at .+[(:]\d|^\w*Error: |Unhandled|uncaught/i.test(line));
}

/**
 * Kills every dev server whose command line names a file under `dir` (read from /proc): npm start runs its server in
 * a process group of its own, which outlives a run the test had to kill.
 */
export function killServersUnder(dir: string): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.includes('start-dev') && args.some((arg) => arg.startsWith(`${dir}/`))) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone, or not ours to read.
    }
  }
}
