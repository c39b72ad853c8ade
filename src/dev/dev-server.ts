/**
 * Starts Temporal servers from the binaries that src/dev/temporal-binaries.ts resolves: the dev server (with the Web
 * UI and the project's search attributes) for `npm start` and end-to-end tests, and the time-skipping test server for
 * workflow tests. Wraps the SDK's ephemeral-server support so a failed start names every way to provide a binary.
 */
import { TestWorkflowEnvironment, type EphemeralServerExecutable } from '@temporalio/testing';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { canarySearchAttributes } from '../workflows/search-attributes';
import { explainOptions, resolveTemporalBinary, type ResolveTemporalBinaryOptions } from './temporal-binaries';

export interface DevServerOptions {
  /** gRPC port; random when omitted. */
  port?: number;
  /** Web UI port; no UI when omitted. */
  uiPort?: number;
  /** SQLite file holding the server's state across restarts; in memory when omitted. */
  dbFilename?: string;
  /** Extra `temporal server start-dev` arguments (e.g. dynamic config). */
  extraArgs?: string[];
  /** A binary resolved earlier (tests resolve once per run); otherwise resolved now. */
  executable?: EphemeralServerExecutable;
  resolve?: ResolveTemporalBinaryOptions;
}

/** Starts a dev server with the canary search attributes registered. Tear it down with `env.teardown()`. */
export async function startDevServer(options: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  const executable = options.executable ?? resolveTemporalBinary('cli', options.resolve).executable;
  try {
    return await TestWorkflowEnvironment.createLocal({
      server: {
        executable,
        port: options.port,
        ui: options.uiPort !== undefined,
        uiPort: options.uiPort,
        dbFilename: options.dbFilename,
        searchAttributes: canarySearchAttributes,
        extraArgs: options.extraArgs,
      },
    });
  } catch (err) {
    throw withOptions(err, executable.type === 'cached-download' ? explainOptions('cli') : undefined);
  }
}

/** Starts the time-skipping test server. Time is global to it: run its tests serially. */
export async function startTimeSkippingServer(
  options: { executable?: EphemeralServerExecutable; resolve?: ResolveTemporalBinaryOptions } = {},
): Promise<TestWorkflowEnvironment> {
  const executable = options.executable ?? resolveTemporalBinary('test-server', options.resolve).executable;
  try {
    const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable } });
    // The test server, unlike the dev server, takes no start flag for these: register them through the operator API.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(canarySearchAttributes.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]])),
    });
    return env;
  } catch (err) {
    throw withOptions(err, executable.type === 'cached-download' ? explainOptions('test-server') : undefined);
  }
}

function withOptions(err: unknown, options: string | undefined): unknown {
  if (!options || !(err instanceof Error)) return err;
  return new Error(`${err.message}\n${options}`, { cause: err });
}

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const INDEXED_VALUE_TYPE: Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.TEXT]: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.KEYWORD]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  [SearchAttributeType.BOOL]: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DATETIME]: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.KEYWORD_LIST]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};
