/**
 * Runs once per jest run, before any test file: resolves (installing if needed) both Temporal binaries and bundles the
 * workflow code, recording both in .temporal/test/setup.json for the test files (see temporal-env.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { resolveTemporalBinary } from '../../src/dev/temporal-binaries';
import { SETUP_FILE, type TestSetup } from './temporal-env';

export default async function globalSetup(): Promise<void> {
  const cli = resolveTemporalBinary('cli');
  const testServer = resolveTemporalBinary('test-server');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error },
  });
  const dir = resolve(__dirname, '..', '..', '.temporal', 'test');
  mkdirSync(dir, { recursive: true });
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  const setup: TestSetup = { cli: cli.executable, testServer: testServer.executable, bundlePath };
  writeFileSync(SETUP_FILE, JSON.stringify(setup, null, 2));
}
