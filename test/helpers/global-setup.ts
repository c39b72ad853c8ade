/**
 * Runs once per jest run, before any test file: resolves (installing if needed) both Temporal binaries and bundles the
 * workflow code, recording both in .temporal/test/setup-<pid>.json for the test files (see temporal-env.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { resolveTemporalBinary } from '../../src/dev/temporal-binaries';
import { workflowCodeOptions } from '../../src/worker';
import { SETUP_FILE_ENV, type TestSetup } from './temporal-env';

export default async function globalSetup(): Promise<void> {
  const cli = resolveTemporalBinary('cli');
  const testServer = resolveTemporalBinary('test-server');
  const { code } = await bundleWorkflowCode({
    ...workflowCodeOptions(),
    logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error },
  });
  const dir = resolve(__dirname, '..', '..', '.temporal', 'test');
  mkdirSync(dir, { recursive: true });
  // One bundle and setup file per jest run: two runs side by side never read each other's half-written bundle.
  const bundlePath = join(dir, `workflow-bundle-${process.pid}.js`);
  writeFileSync(bundlePath, code);
  const setup: TestSetup = { cli: cli.executable, testServer: testServer.executable, bundlePath };
  const setupFile = join(dir, `setup-${process.pid}.json`);
  writeFileSync(setupFile, JSON.stringify(setup, null, 2));
  // Test workers are started after this and inherit the variable.
  process.env[SETUP_FILE_ENV] = setupFile;
}
