/**
 * `npm start`: the main job. Starts the embedded Temporal dev server (or connects to the configured one), then runs
 * the demo (src/demo/run-demo.ts): the demo target under load, a worker, and plans/demo.yaml as a real rollout with
 * live progress, the release manager's approval and a closing report with the link to the history in the Temporal UI.
 *
 *   npm start                                   the rollout completes at 100%
 *   npm start -- --fault error-rate=0.05        the canary fails 5% of requests: the hard stop rolls back
 *   npm start -- --fault latency=400ms          the canary is slow: the latency hard stop rolls back
 *   npm start -- --no-auto-approve              wait for a person to run the printed approve command
 *   npm start -- --exit                         stop everything at the end (also when CI is set)
 *
 * Exit code 0 when the demo told its story (completed without a fault, rolled back with one), 1 when it did not or
 * failed, 2 for a usage error. Without --exit the dev server stays up for browsing the UI until Ctrl-C.
 *
 * With TEMPORAL_ADDRESS or an envconfig profile naming a server, it uses that server instead of starting one.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Command, CommanderError } from 'commander';
import { configuredServer } from './client';
import { parseFaults } from './demo/fault';
import { DEMO_TARGET_PORT, runDemo } from './demo/run-demo';
import { startDevServer } from './dev/dev-server';

const DEV_PORT = 7233;
const UI_PORT = 8233;
const STATE_FILE = resolve('.temporal', 'dev-server', 'state.sqlite');

interface StartOptions {
  fault?: string[];
  exit?: boolean;
  autoApprove: boolean;
}

function parseArguments(argv: string[]): StartOptions {
  const program = new Command('npm start --')
    .description('Runs the canary demo: a Temporal dev server, a worker, the demo target under load and the demo plan.')
    .option('--fault <settings>', 'canary fault: error-rate=0.05 and/or latency=400ms (repeatable, or a comma list)', (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .option('--exit', 'stop everything when the rollout ends (default when CI is set)')
    .option('--no-auto-approve', 'wait for a person to approve instead of approving as release-manager@demo')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  program.parse(argv, { from: 'user' });
  return program.opts<StartOptions>();
}

async function main(): Promise<number> {
  let options: StartOptions;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (err) {
    return err instanceof CommanderError && err.exitCode === 0 ? 0 : 2;
  }
  const fault = parseFaults(options.fault ?? []);
  if (!fault.ok) {
    console.error(`npm start: ${fault.error}`);
    return 2;
  }

  // Keep the terminal for the rollout's story; worker warnings and errors still show.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  let exitCode = 130;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const s of stops.reverse()) await s().catch((err: unknown) => console.error(err));
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(exitCode));
  process.on('SIGTERM', () => void stop(exitCode === 130 ? 143 : exitCode));

  const configured = configuredServer();
  let client: Client;
  let connection: NativeConnection;
  let uiUrl: string;
  if (configured.explicit) {
    console.log(`Using the configured Temporal server at ${configured.address} (namespace ${configured.namespace}).`);
    connection = await NativeConnection.connect({ ...configured.connectionOptions, address: configured.address });
    stops.push(() => connection.close());
    const clientConnection = await Connection.connect({ ...configured.connectionOptions, address: configured.address });
    stops.push(() => clientConnection.close());
    client = new Client({ connection: clientConnection, namespace: configured.namespace });
    uiUrl = process.env.TEMPORAL_UI_URL ?? `http://localhost:${UI_PORT}`;
  } else {
    mkdirSync(resolve('.temporal', 'dev-server'), { recursive: true });
    console.log(`Starting the Temporal dev server on localhost:${DEV_PORT} (state in ${STATE_FILE}) …`);
    let env: TestWorkflowEnvironment;
    try {
      env = await startDevServer({ port: DEV_PORT, uiPort: UI_PORT, dbFilename: STATE_FILE });
    } catch (err) {
      console.error(`Could not start the Temporal dev server: ${(err as Error).message}`);
      console.error(`Is something else listening on port ${DEV_PORT} or ${UI_PORT}? Stop it, or set TEMPORAL_ADDRESS to use it instead.`);
      return 1;
    }
    stops.push(() => env.teardown());
    client = env.client;
    connection = env.nativeConnection;
    uiUrl = `http://localhost:${UI_PORT}`;
  }

  let storyHappened = false;
  try {
    const report = await runDemo({
      client,
      connection,
      namespace: configured.namespace,
      targetPort: DEMO_TARGET_PORT,
      targetPortFallback: true,
      fault: fault.fault,
      autoApprove: options.autoApprove,
      uiUrl,
    });
    storyHappened = report.storyHappened;
  } catch (err) {
    console.error(`npm start: ${(err as Error).message}`);
  }
  exitCode = storyHappened ? 0 : 1;
  if (options.exit || process.env.CI || configured.explicit) {
    await stop(exitCode);
    return exitCode;
  }
  console.log('The dev server and UI stay up to browse the history; press Ctrl-C to stop everything.');
  return new Promise<number>(() => undefined);
}

main().then(
  (code) => {
    process.exitCode = code;
    if (code !== 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
