/**
 * `npx canary …` from a fresh clone, after `npm ci` and nothing else (no `npm link`, no global install): npm runs the
 * `canary` bin of the package it is run in — it links this checkout into its npx cache — and never fetches the
 * unrelated `canary` package from the registry. The clone is a copy of this working tree's files (what `git clone`
 * of it would check out, with the changes not yet committed), installed with `npm ci` from npm's cache. Each `npx`
 * runs with a registry that records every request and answers none, and with an empty npm cache, so a download
 * would show — and could not be served from an earlier one.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without the npm_* variables `npm test` passes to its scripts (the outer npm's prefix, cache …). */
const baseEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name))),
  // The `node` the shebangs find is the one running these tests.
  PATH: [dirname(process.execPath), process.env.PATH].join(delimiter),
};

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = baseEnv): Promise<Run> {
  return new Promise((done, failed) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', failed);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

async function npm(args: readonly string[], cwd: string): Promise<void> {
  const result = await run('npm', args, cwd);
  if (result.code !== 0) throw new Error(`npm ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
}

/** Copies the files a clone of this working tree has — tracked or new, not ignored, not deleted — to `to`. */
function cloneWorkingTree(to: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0');
  for (const file of files) {
    if (file === '' || !existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(to, file));
  }
}

let dir: string;
let clone: string;
let registry: Server;
/** What the recording registry was asked for. */
const requests: string[] = [];
let npxEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'canary-npx-'));
  clone = join(dir, 'clone');
  cloneWorkingTree(clone);
  // Offline first (`npm ci` filled the cache with every tarball); a cache without the registry's metadata falls
  // back to --prefer-offline.
  const ci = ['ci', '--no-audit', '--no-fund'];
  await npm(['--offline', ...ci], clone).catch(() => npm(['--prefer-offline', ...ci], clone));

  registry = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  await new Promise<void>((listening) => registry.listen(0, '127.0.0.1', listening));
  npxEnv = {
    ...baseEnv,
    npm_config_registry: `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`,
    npm_config_cache: join(dir, 'npm-cache'),
    // No global `canary` (an `npm link` of a checkout) for npx to fall back on.
    npm_config_prefix: join(dir, 'global'),
    npm_config_update_notifier: 'false',
  };
}, 240_000);

afterAll(async () => {
  await new Promise((closed) => registry?.close(closed));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  requests.length = 0;
});

describe('npx canary in a fresh clone after npm ci', () => {
  test('prints the usage with --help and exits 0, without asking the registry for anything', async () => {
    const result = await run('npx', ['canary', '--help'], clone, npxEnv);
    expect(result.stdout).toMatch(/^Usage: canary \[options\] \[command\]/);
    expect(result.code).toBe(0);
    expect(requests).toEqual([]);
  }, 60_000);

  test('runs from a folder inside the clone: validates a plan there', async () => {
    const result = await run('npx', ['canary', 'validate', 'demo.yaml'], join(clone, 'plans'), npxEnv);
    expect(result).toMatchObject({ code: 0, stdout: 'demo.yaml: ok — plan demo, 3 phases\n' });
    expect(requests).toEqual([]);
  }, 60_000);

  test('outside the clone the same `npx canary` would go to the registry (which is why it must not here)', async () => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    const result = await run('npx', ['--yes', 'canary', '--help'], elsewhere, npxEnv);
    expect(result.code).not.toBe(0);
    expect(requests).toContainEqual(expect.stringMatching(/^GET \/canary\b/));
  }, 60_000);
});
