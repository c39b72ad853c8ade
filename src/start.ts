/**
 * `npm start`: the main job. Starts the embedded Temporal dev server (or connects to the configured one) and a worker,
 * then runs the demo (src/demo/run-demo.ts): the demo target under load and plans/demo.yaml as a real rollout with
 * live progress, the release manager's approval and a closing report with the link to the history in the Temporal UI.
 *
 *   npm start                                   the rollout completes at 100%
 *   npm start -- --fault error-rate=0.05        the canary fails 5% of requests: the hard stop rolls back
 *   npm start -- --fault latency=400ms          the canary is slow: the latency hard stop rolls back
 *   npm start -- --no-auto-approve              wait for a person to run the printed approve command
 *   npm start -- --exit                         stop everything at the end (also when CI is set)
 *   npm start -- --port 7243 --ui-port 8243     other ports for the dev server and its UI
 *   npm start -- --state-dir /tmp/demo          keep the dev server's state (and the lock) elsewhere
 *
 * Without --exit the dev server, its UI and the worker stay up after the demo (the UI's queries answer) until Ctrl-C.
 * Exit codes: 0 when the demo told its story (completed without a fault, rolled back with one), 1 when it did not or
 * could not run (a port taken, another npm start running), 2 for a usage error, 130 when Ctrl-C (143: SIGTERM) stopped
 * it before the story ended; Ctrl-C after the story exits with the story's code.
 *
 * One npm start at a time per state directory (by default per checkout): a lock file holds its pid, and a lock whose
 * pid is gone is taken over (with the dev server its owner left running). Each run writes its own flag file
 * (.canary/demo-runs/<time>/flags.json). Ctrl-C during the rollout rolls it back as the plan's owner (terminates it
 * when that does not settle), and a demo rollout an earlier run left running on this dev server is rolled back at
 * start, never resumed.
 *
 * With TEMPORAL_ADDRESS or an envconfig profile naming a server, it uses that server instead of starting one, and
 * stops at the end.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { configuredServer } from './client';
import { acquireDemoLock, pidAlive, type DemoLock, type DemoLockInfo } from './demo/demo-lock';
import { parseFaults } from './demo/fault';
import { describePortHolder, freePortPair, portFree } from './demo/ports';
import { createDemoWorker, DEMO_PLAN_FILE, DEMO_TARGET_PORT, DEMO_TASK_QUEUE, DemoInterrupted, demoRunStamp, runDemo } from './demo/run-demo';
import { runningRolloutsOf, stopRollout } from './demo/stop-rollout';
import { isDevServerProcess, spawnDevServer, type DevServerProcess } from './dev/dev-server';
import { loadPlanFile } from './plan/load';

const DEFAULT_PORT = 7233;
const DEFAULT_UI_PORT = 8233;
const DEFAULT_STATE_DIR = join('.temporal', 'dev-server');

interface StartOptions {
  fault?: string[];
  exit?: boolean;
  autoApprove: boolean;
  port: number;
  uiPort?: number;
  stateDir: string;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new InvalidArgumentError('a port is a whole number from 1 to 65535');
  return port;
}

function parseArguments(argv: string[]): StartOptions {
  const program = new Command('npm start --')
    .description('Runs the canary demo: a Temporal dev server, a worker, the demo target under load and the demo plan.')
    .option('--fault <settings>', 'canary fault: error-rate=0.05 and/or latency=400ms (repeatable, or a comma list)', (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .option('--exit', 'stop everything when the rollout ends (default when CI is set)')
    .option('--no-auto-approve', 'wait for a person to approve instead of approving as release-manager@demo')
    .option('--port <port>', 'gRPC port of the embedded dev server', parsePort, DEFAULT_PORT)
    .option('--ui-port <port>', `port of the Temporal UI (default ${DEFAULT_UI_PORT}, or --port + 1000)`, parsePort)
    .option('--state-dir <dir>', 'where the dev server keeps its state, its log and the npm start lock (env CANARY_DEMO_STATE_DIR)', process.env.CANARY_DEMO_STATE_DIR || DEFAULT_STATE_DIR)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  program.parse(argv, { from: 'user' });
  return program.opts<StartOptions>();
}

/** Things to stop at the end, newest first. */
type Cleanup = () => Promise<void> | void;

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
  const port = options.port;
  const uiPort = options.uiPort ?? (port === DEFAULT_PORT ? DEFAULT_UI_PORT : port + 1000);
  const stateDir = resolve(options.stateDir);

  // Keep the terminal for the rollout's story; worker warnings and errors still show. No shutdown signals: the worker
  // must outlive a Ctrl-C long enough to roll the rollout back, and this file stops it in order.
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });

  const interrupt = new AbortController();
  let stopSignal: NodeJS.Signals | undefined;
  let firstSignalAt = 0;
  let failed = false;
  let closing = false;
  let server: DevServerProcess | undefined;
  let lock: DemoLock | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopSignal) {
      stopSignal = signal;
      firstSignalAt = Date.now();
      console.log(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping … (press Ctrl-C again to stop at once)`);
      interrupt.abort();
      return;
    }
    // npm and the terminal may both deliver one Ctrl-C: only a second press counts.
    if (Date.now() - firstSignalAt < 1_500) return;
    console.log('Stopping at once: the dev server is killed; the next npm start rolls back what is left running.');
    if (server) killGroup(server.pid);
    lock?.release();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const fail = (message: string) => {
    if (closing || interrupt.signal.aborted) return;
    console.error(`npm start: ${message}`);
    failed = true;
    interrupt.abort();
  };

  const cleanups: Cleanup[] = [];
  const runCleanups = async () => {
    closing = true;
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        console.error(`npm start: while stopping: ${(err as Error).message}`);
      }
    }
    cleanups.length = 0;
  };
  const interruptedCode = () => (stopSignal === 'SIGTERM' ? 143 : 130);

  try {
    // One demo per checkout (per state directory).
    mkdirSync(stateDir, { recursive: true });
    const lockFile = join(stateDir, 'npm-start.lock');
    const acquired = acquireDemoLock(lockFile);
    if (!acquired.ok) {
      console.error(
        `npm start: another npm start (pid ${acquired.holder.pid}, since ${acquired.holder.since}) is running the demo in this checkout` +
          `${acquired.holder.address ? ` on ${acquired.holder.address}` : ''}. Stop it with Ctrl-C in its terminal (or \`kill -INT ${acquired.holder.pid}\`), then run npm start again.` +
          ` (If pid ${acquired.holder.pid} is not an npm start, remove ${lockFile}.)`,
      );
      return 1;
    }
    lock = acquired.lock;
    const held = lock;
    cleanups.push(() => held.release());
    process.once('exit', () => held.release());
    if (acquired.stale) await takeOverFrom(acquired.stale, lockFile, join(stateDir, 'state.sqlite'));

    const configured = configuredServer();
    let client: Client;
    let connection: NativeConnection;
    let uiUrl: string;
    let printedAddress: string | undefined;
    if (configured.explicit) {
      console.log(`Using the configured Temporal server at ${configured.address} (namespace ${configured.namespace}).`);
      printedAddress = configured.address;
      uiUrl = process.env.TEMPORAL_UI_URL ?? `http://localhost:${DEFAULT_UI_PORT}`;
      connection = await NativeConnection.connect({ ...configured.connectionOptions, address: configured.address });
      const clientConnection = await Connection.connect({ ...configured.connectionOptions, address: configured.address });
      cleanups.push(() => connection.close(), () => clientConnection.close());
      client = new Client({ connection: clientConnection, namespace: configured.namespace });
    } else {
      const taken = await takenPorts([
        [port, 'Temporal gRPC'],
        [uiPort, 'Temporal UI'],
      ]);
      if (taken) {
        const pair = await freePortPair(port, uiPort);
        console.error(
          `npm start: port ${taken.port} (${taken.what}) is taken by ${taken.holder}, so the demo cannot start its own dev server.\n` +
            `  Stop what holds it${pair ? `, or choose free ports: npm start -- --port ${pair[0]} --ui-port ${pair[1]}` : `, or choose other ports with --port and --ui-port`}` +
            `${taken.holder.startsWith('a Temporal server') ? `, or run the demo on that server: TEMPORAL_ADDRESS=localhost:${port} npm start` : ''}.`,
        );
        return 1;
      }
      const dbFilename = join(stateDir, 'state.sqlite');
      console.log(`Starting the Temporal dev server on localhost:${port}, UI on http://localhost:${uiPort} (state in ${dbFilename}) …`);
      try {
        server = await spawnDevServer({ port, uiPort, dbFilename, logFile: join(stateDir, 'server.log') });
      } catch (err) {
        console.error(`npm start: could not start the Temporal dev server: ${(err as Error).message}`);
        return 1;
      }
      const started = server;
      cleanups.push(async () => {
        await started.stop();
        console.log(`Stopped the dev server (its state stays in ${dbFilename}).`);
      });
      held.update({ serverPid: started.pid, address: started.address });
      void started.exited.then((how) => fail(`the Temporal dev server stopped unexpectedly (${how}); its log: ${join(stateDir, 'server.log')}`));
      printedAddress = port === DEFAULT_PORT ? undefined : `localhost:${port}`;
      uiUrl = started.uiUrl ?? `http://localhost:${uiPort}`;
      connection = await NativeConnection.connect({ address: started.address });
      const clientConnection = await Connection.connect({ address: started.address });
      cleanups.push(() => connection.close(), () => clientConnection.close());
      client = new Client({ connection: clientConnection, namespace: 'default' });
    }
    const namespace = configured.explicit ? configured.namespace : 'default';
    if (interrupt.signal.aborted) return failed ? 1 : interruptedCode();

    // One worker for the whole session: it runs the demo's rollout, answers the UI's queries afterwards, and rolls back
    // what an earlier run left behind.
    const worker = await createDemoWorker({ connection, namespace, taskQueue: DEMO_TASK_QUEUE, root: '.' });
    cleanups.push(stopWorker(worker, worker.run().catch((err: unknown) => fail(`the worker stopped: ${(err as Error).message}`))));
    if (interrupt.signal.aborted) return failed ? 1 : interruptedCode();

    if (!configured.explicit) await stopOrphans(client);
    if (interrupt.signal.aborted) return failed ? 1 : interruptedCode();

    let code: number;
    try {
      const stamp = demoRunStamp(new Date());
      const report = await runDemo({
        client,
        connection,
        namespace,
        runWorker: false,
        taskQueue: DEMO_TASK_QUEUE,
        flagFile: resolve('.canary', 'demo-runs', stamp, 'flags.json'),
        targetPort: DEMO_TARGET_PORT,
        targetPortFallback: true,
        fault: fault.fault,
        autoApprove: options.autoApprove,
        uiUrl,
        address: printedAddress,
        signal: interrupt.signal,
        onRolloutStarted: (workflowId) => held.update({ workflowId }),
      });
      code = report.storyHappened ? 0 : 1;
    } catch (err) {
      if (err instanceof DemoInterrupted) return failed ? 1 : interruptedCode();
      console.error(`npm start: ${(err as Error).message}`);
      return 1;
    }
    if (failed) return 1;
    if (interrupt.signal.aborted) return interruptedCode();
    if (options.exit || process.env.CI || configured.explicit) return code;

    console.log(
      `The dev server, its UI (${uiUrl}) and the worker stay up: browse the history, run the rollout's queries in the UI.` +
        ` Press Ctrl-C to stop everything${code === 0 ? '' : ' (exit code 1: the demo did not tell its story)'}.`,
    );
    // Holds the event loop until Ctrl-C (or the server or worker dies).
    const keepAlive = setInterval(() => undefined, 60_000);
    await new Promise<void>((resolveStop) => interrupt.signal.addEventListener('abort', () => resolveStop(), { once: true }));
    clearInterval(keepAlive);
    return failed ? 1 : code;
  } catch (err) {
    console.error(`npm start: ${(err as Error).message}`);
    return 1;
  } finally {
    await runCleanups();
  }

  /** Deals with what a dead npm start left: its lock (already replaced) and the dev server it may have left running. */
  async function takeOverFrom(stale: DemoLockInfo, lockFile: string, dbFilename: string): Promise<void> {
    console.log(`Taking over the lock ${lockFile} from an earlier npm start (pid ${stale.pid}, since ${stale.since}) that is no longer running.`);
    if (!stale.serverPid || !pidAlive(stale.serverPid)) return;
    const ours = isDevServerProcess(stale.serverPid, dbFilename);
    if (ours === false) return; // The pid was reused by something else.
    if (ours === undefined) {
      console.log(`The dev server it started (pid ${stale.serverPid}) may still be running; stop it if the ports are taken.`);
      return;
    }
    console.log(`Stopping the dev server it left running (pid ${stale.serverPid}${stale.address ? ` on ${stale.address}` : ''}) …`);
    await stopProcessGroup(stale.serverPid, 10_000);
  }

  /** Rolls back (or terminates) demo rollouts an earlier npm start left running on this server, saying so. */
  async function stopOrphans(client: Client): Promise<void> {
    const loaded = await loadPlanFile(DEMO_PLAN_FILE);
    if (!loaded.ok) return; // runDemo reports an invalid plan.
    const orphans = await runningRolloutsOf(client, loaded.plan.id, DEMO_TASK_QUEUE);
    for (const orphan of orphans) {
      const by = orphan.owner ?? loaded.plan.owner;
      console.log(
        `Rollout ${orphan.workflowId} is still running from an earlier npm start${orphan.phase ? ` (${orphan.phase} at ${orphan.percent ?? '?'}%)` : ''}: rolling it back as ${by ?? 'its owner'} so it is not resumed …`,
      );
      const stopped = await stopRollout(client, orphan.workflowId, { by, reason: 'left running by an earlier npm start', settleMs: 10_000 });
      console.log(
        stopped.how === 'rolled-back'
          ? `  rolled back (final traffic ${stopped.result.finalPercent}%); the rollback is in its ops log.`
          : stopped.how === 'terminated'
            ? `  terminated (${stopped.why}).`
            : `  it had already ended (${stopped.status}).`,
      );
    }
  }
}

/** Ports of `wanted` that something already listens on: the first one, with what holds it. */
async function takenPorts(wanted: Array<[number, string]>): Promise<{ port: number; what: string; holder: string } | undefined> {
  for (const [port, what] of wanted) {
    if (!(await portFree(port))) return { port, what, holder: await describePortHolder(port) };
  }
  return undefined;
}

function stopWorker(worker: Worker, running: Promise<unknown>): Cleanup {
  return async () => {
    try {
      worker.shutdown();
    } catch {
      // Already stopping or stopped.
    }
    await running;
  };
}

function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
      return;
    } catch {
      // Try the next form; gone already is fine.
    }
  }
}

/** SIGTERM to the process group of `pid`, SIGKILL after `graceMs`; resolves once it is gone. */
async function stopProcessGroup(pid: number, graceMs: number): Promise<void> {
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
  }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) {
      killGroup(pid);
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`npm start: ${(err as Error).message}`);
    process.exit(1);
  },
);
