/**
 * Starts a real Prometheus server for tests: the `prometheus` binary (Debian package `prometheus`, or PROMETHEUS_BIN)
 * on 127.0.0.1 with a free port, a temporary config scraping the given targets every second, and a temporary TSDB.
 * `stop()` ends the process and removes the directory. Waits are polls bounded in time, never fixed sleeps.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running Prometheus server. */
export interface PrometheusServer {
  /** The server's root URL, e.g. http://127.0.0.1:41234. */
  url: string;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'Install it with `bash tools/ci/install-prometheus.sh` (Debian/Ubuntu: `apt-get install -y --no-install-recommends prometheus`), ' +
  'or point PROMETHEUS_BIN at a prometheus binary.';

/** The prometheus executable: PROMETHEUS_BIN, else `prometheus` on PATH. Throws, saying how to install it, when absent. */
export function prometheusBinary(): string {
  const candidate = process.env.PROMETHEUS_BIN ?? 'prometheus';
  const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`The Prometheus tests need a real prometheus binary, and ${JSON.stringify(candidate)} could not be run (${probe.error?.message ?? `exit ${probe.status}`}). ${INSTALL_HINT}`);
  }
  return candidate;
}

/**
 * Starts Prometheus scraping `targets` (host:port, path /metrics) every `scrapeInterval`, and resolves once it answers
 * `/-/ready`. Retries with another port if the one picked was taken in the meantime.
 */
export async function startPrometheus(options: { targets: string[]; scrapeInterval?: string; readyTimeoutMs?: number }): Promise<PrometheusServer> {
  const binary = prometheusBinary();
  const dir = mkdtempSync(join(tmpdir(), 'canary-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  const interval = options.scrapeInterval ?? '1s';
  writeFileSync(
    configFile,
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: target',
      `    scrape_interval: ${interval}`,
      `    scrape_timeout: ${interval}`,
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  let lastProblem = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(
      binary,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, `data-${attempt}`)}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const ready = await waitUntilReady(url, child, options.readyTimeoutMs ?? 30_000);
    if (ready === true) {
      return { url, stop: () => stopProcess(child).finally(() => rmSync(dir, { recursive: true, force: true })) };
    }
    await stopProcess(child);
    lastProblem = `${ready}\n${stderr}`;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`Prometheus did not start: ${lastProblem}`);
}

/**
 * Polls an instant query until `accept` approves the API's `data`, at most `timeoutMs`; returns the last data or
 * throws with it, so a test that waits for a scrape fails with what Prometheus answered.
 */
export async function waitForQuery(url: string, query: string, accept: (data: { resultType: string; result: unknown }) => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await response.json()) as { status: string; data: { resultType: string; result: unknown } };
      last = JSON.stringify(body);
      if (body.status === 'success' && accept(body.data)) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Prometheus at ${url} did not answer ${query} as expected within ${timeoutMs} ms; last answer: ${last}`);
}

async function waitUntilReady(url: string, child: ChildProcess, timeoutMs: number): Promise<true | string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return `prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready`;
    try {
      const response = await fetch(`${url}/-/ready`);
      await response.body?.cancel();
      if (response.ok) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return `prometheus was not ready within ${timeoutMs} ms`;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port');
  return address.port;
}
