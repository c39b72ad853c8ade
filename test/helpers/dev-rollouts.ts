/**
 * A real dev server with a worker running the rollout workflow, for end-to-end tests of the surfaces around it (the
 * CLI, the HTTP API, messages). Metrics come from a one-line scenario; approvers' public keys are given by key id.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { parseScenario } from '../../src/simulate/scenario';
import { createRolloutDeps, createWorker } from '../../src/worker';
import { createDevServerEnv, workflowBundle } from './temporal-env';

export interface DevRollouts {
  env: TestWorkflowEnvironment;
  worker: Worker;
  /** A temporary directory holding the flag files and the configuration store. */
  root: string;
  /** Stops the worker (unless something else already did) and the server. */
  stop(): Promise<void>;
}

/** Starts the server and a worker on `taskQueue`; `approverKeys` are public JWKs, each found by its `kid`. */
export async function startDevRollouts(options: {
  taskQueue: string;
  approverKeys?: JWK[];
  /** Scenario YAML for the metrics; default: one hour with a healthy error rate. */
  scenario?: string;
  root?: string;
}): Promise<DevRollouts> {
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'canary-dev-rollouts-'));
  const env = await createDevServerEnv();
  const keys = options.approverKeys ?? [];
  const worker = await createWorker({
    connection: env.nativeConnection,
    taskQueue: options.taskQueue,
    workflowBundle: workflowBundle(),
    rolloutDeps: createRolloutDeps({
      scenario: parseScenario(options.scenario ?? 'duration: 1h\nmetrics: { error_rate: 0.001 }'),
      flagFileRoot: root,
      configFile: join(root, 'config.json'),
      approverKeys: { keySet: async (_role, refs) => ({ keys: keys.filter((k) => k.kid !== undefined && refs.includes(k.kid)) }) },
    }),
  });
  const running = worker.run();
  return {
    env,
    worker,
    root,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/** A fresh ES256 key pair for an approver, as private and public JWKs carrying `kid`. */
export async function approverKeyPair(kid: string): Promise<{ privateKey: JWK; publicKey: JWK }> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return {
    privateKey: { ...(await exportJWK(pair.privateKey)), kid, alg: 'ES256' },
    publicKey: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256' },
  };
}
