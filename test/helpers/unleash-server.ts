/**
 * A real Unleash server for tests: PostgreSQL from Debian in a temporary data directory (unix socket only, no TCP
 * port), and unleash-server (installed outside package.json by tools/ci/install-unleash.sh) in a child process on
 * 127.0.0.1 and a free port, with an admin API token created at startup. `stop()` ends both and removes the data.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const REPO_ROOT = resolve(__dirname, '..', '..');
const INSTALL_SCRIPT = join(REPO_ROOT, 'tools', 'ci', 'install-unleash.sh');
const ADMIN_TOKEN = '*:*.canary-test-admin-token';

export interface UnleashTestServer {
  /** Base URL, e.g. http://127.0.0.1:40093 */
  url: string;
  /** An admin API token the server accepts in the Authorization header. */
  adminToken: string;
  /** Milliseconds spent on: the install check (or install), PostgreSQL (initdb + start + createdb), Unleash start. */
  timings: { installMs: number; postgresMs: number; unleashMs: number };
  stop(): Promise<void>;
}

/** Installs (if needed) and starts PostgreSQL and Unleash; resolves once Unleash reports itself healthy. */
export async function startUnleashServer(): Promise<UnleashTestServer> {
  let started = Date.now();
  const installDir = (await run('bash', [INSTALL_SCRIPT], { timeout: 10 * 60_000 })).stdout.trim().split('\n').pop() ?? '';
  const installMs = Date.now() - started;

  started = Date.now();
  const postgres = await startPostgres();
  const postgresMs = Date.now() - started;

  started = Date.now();
  let unleash: { child: ChildProcess; url: string };
  try {
    unleash = await startUnleash(installDir, postgres.socketDir);
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  const unleashMs = Date.now() - started;

  return {
    url: unleash.url,
    adminToken: ADMIN_TOKEN,
    timings: { installMs, postgresMs, unleashMs },
    stop: async () => {
      await stopChild(unleash.child);
      await postgres.stop();
    },
  };
}

interface Postgres {
  socketDir: string;
  stop(): Promise<void>;
}

async function startPostgres(): Promise<Postgres> {
  const bin = await postgresBinDir();
  const root = await mkdtemp(join(tmpdir(), 'canary-unleash-pg-'));
  const asPostgres = await postgresUser(root);
  const data = join(root, 'data');
  const pg = (tool: string, args: string[]): Promise<unknown> =>
    run(asPostgres.command, [...asPostgres.prefix, join(bin, tool), ...args], { timeout: 60_000 }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`PostgreSQL ${tool} failed: ${err.stderr?.trim() || err.message}`);
    });
  try {
    await pg('initdb', ['-D', data, '-U', 'unleash', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    // No TCP listener (-h ''), a socket in our own directory (-k), no fsync (-F): nothing to collide with.
    await pg('pg_ctl', ['-D', data, '-o', `-h '' -k ${root} -F`, '-l', join(root, 'postgres.log'), '-w', 'start']);
    await pg('createdb', ['-h', root, '-U', 'unleash', 'unleash']);
  } catch (err) {
    await pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  return {
    socketDir: root,
    stop: async () => {
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The newest Debian PostgreSQL, /usr/lib/postgresql/<major>/bin. */
async function postgresBinDir(): Promise<string> {
  const majors = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  const newest = majors.filter((m) => /^\d+$/.test(m)).sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('PostgreSQL is not installed under /usr/lib/postgresql; run tools/ci/install-unleash.sh');
  return join('/usr/lib/postgresql', newest, 'bin');
}

/** PostgreSQL refuses to run as root: as root, run its tools as the Debian `postgres` user and give it `root`. */
async function postgresUser(root: string): Promise<{ command: string; prefix: string[] }> {
  if (process.getuid?.() !== 0) return { command: 'env', prefix: [] };
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  await chown(root, Number(uid.stdout), Number(gid.stdout));
  return { command: 'runuser', prefix: ['-u', 'postgres', '--'] };
}

/** Runs in the child: imports unleash-server (an ES module) and prints the port once it listens. */
const UNLEASH_MAIN = `
const config = JSON.parse(process.env.CANARY_UNLEASH_CONFIG);
const { start } = await import(process.env.CANARY_UNLEASH_MODULE);
const unleash = await start(config);
process.on('SIGTERM', () => { unleash.stop().finally(() => process.exit(0)); });
process.stdout.write('UNLEASH_LISTENING ' + unleash.server.address().port + '\\n');
`;

async function startUnleash(installDir: string, socketDir: string): Promise<{ child: ChildProcess; url: string }> {
  const config = {
    db: { host: socketDir, port: 5432, user: 'unleash', password: '', database: 'unleash', ssl: false },
    server: { host: '127.0.0.1', port: 0 },
    authentication: { initApiTokens: [{ environment: '*', projects: ['*'], secret: ADMIN_TOKEN, type: 'admin', tokenName: 'canary-tests' }] },
    logLevel: 'error',
  };
  const module = pathToFileURL(join(installDir, 'node_modules', 'unleash-server', 'dist', 'lib', 'server-impl.js')).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', UNLEASH_MAIN], {
    env: {
      ...process.env,
      CANARY_UNLEASH_CONFIG: JSON.stringify(config),
      CANARY_UNLEASH_MODULE: module,
      // No calls home: there is no network besides the loopback here.
      CHECK_VERSION: 'false',
      SEND_TELEMETRY: 'false',
      SCARF_ANALYTICS: 'false',
      NODE_NO_WARNINGS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const port = await new Promise<number>((resolvePort, reject) => {
    let stdout = '';
    const onExit = (code: number | null): void => reject(new Error(`Unleash exited with ${code} before listening:\n${stderr.trim()}`));
    child.once('exit', onExit);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const match = /UNLEASH_LISTENING (\d+)/.exec(stdout);
      if (match) {
        child.off('exit', onExit);
        resolvePort(Number(match[1]));
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const health = await fetch(`${url}/health`).then((r) => r.json() as Promise<{ health?: string }>);
  if (health.health !== 'GOOD') {
    await stopChild(child);
    throw new Error(`Unleash at ${url} reports health ${JSON.stringify(health)}`);
  }
  return { child, url };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
