/**
 * Test access to real Temporal servers, using the binaries and the workflow bundle prepared once by global-setup.ts.
 */
import { readFileSync } from 'node:fs';
import type { EphemeralServerExecutable, TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, makeTelemetryFilterString, Runtime, type WorkerOptions } from '@temporalio/worker';
import { startDevServer, startTimeSkippingServer } from '../../src/dev/dev-server';

/** Names the setup file global-setup.ts wrote for this jest run. */
export const SETUP_FILE_ENV = 'CANARY_TEST_SETUP_FILE';

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
  const file = process.env[SETUP_FILE_ENV];
  if (!file) throw new Error(`${SETUP_FILE_ENV} is not set: run the tests through jest (test/helpers/global-setup.ts sets it)`);
  setup ??= JSON.parse(readFileSync(file, 'utf8')) as TestSetup;
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

/**
 * Awaits `work` (a workflow result, an `env.sleep`) on the time-skipping server while reading the workflow's history
 * every second. Without that, the test server (1.40) now and then stops with a workflow task started and never
 * completed, in frozen time, and the test hangs; reading the history keeps it moving.
 */
export async function withTimeNudges<T>(env: TestWorkflowEnvironment, workflowId: string, work: Promise<T>): Promise<T> {
  const nudge = setInterval(() => {
    void env.client.workflowService
      .getWorkflowExecutionHistory({ namespace: env.namespace ?? 'default', execution: { workflowId }, maximumPageSize: 1 })
      .catch(() => undefined);
  }, 1000);
  try {
    return await work;
  } finally {
    clearInterval(nudge);
  }
}
