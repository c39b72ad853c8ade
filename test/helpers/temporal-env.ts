/**
 * Test access to real Temporal servers, using the binaries and the workflow bundle prepared once by global-setup.ts.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EphemeralServerExecutable, TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, makeTelemetryFilterString, Runtime, type WorkerOptions } from '@temporalio/worker';
import { startDevServer, startTimeSkippingServer } from '../../src/dev/dev-server';

export const SETUP_FILE = resolve(__dirname, '..', '..', '.temporal', 'test', 'setup.json');

export interface TestSetup {
  cli: EphemeralServerExecutable;
  testServer: EphemeralServerExecutable;
  bundlePath: string;
}

let setup: TestSetup | undefined;
let runtimeInstalled = false;

/** Binaries and bundle prepared by global-setup.ts. */
export function testSetup(): TestSetup {
  if (!runtimeInstalled) {
    // Worker chatter would bury test output; warnings and errors still show.
    Runtime.install({
      logger: new DefaultLogger('WARN'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
    });
    runtimeInstalled = true;
  }
  setup ??= JSON.parse(readFileSync(SETUP_FILE, 'utf8')) as TestSetup;
  return setup;
}

/** The workflow code bundled once for this jest run. */
export function workflowBundle(): NonNullable<WorkerOptions['workflowBundle']> {
  return { codePath: testSetup().bundlePath };
}

/** The time-skipping test server. */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return startTimeSkippingServer({ executable: testSetup().testServer });
}

/** The real dev server (random port, in-memory state), with the canary search attributes registered. */
export async function createDevServerEnv(extraArgs: string[] = []): Promise<TestWorkflowEnvironment> {
  return startDevServer({ executable: testSetup().cli, extraArgs });
}
