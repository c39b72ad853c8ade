/**
 * Whether the ports `npm start` wants are free, and what holds them when they are not: checked before the dev server
 * starts, so a taken port is refused with a clear message instead of the demo quietly running on someone else's server.
 */
import { createServer, Socket } from 'node:net';
import { Connection } from '@temporalio/client';

/** True when nothing listens on `host:port` (we could bind it ourselves). */
export async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolveFree(true)));
  });
}

/** What listens on a taken port, as far as we can tell from outside: a Temporal server, or something else. */
export async function describePortHolder(port: number, host = '127.0.0.1'): Promise<string> {
  if (!(await accepts(port, host))) return 'another process';
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: `${host}:${port}`, connectTimeout: '1s' });
    const info = await connection.workflowService.getSystemInfo({});
    return `a Temporal server${info.serverVersion ? ` (version ${info.serverVersion})` : ''} that this npm start did not start`;
  } catch {
    return 'another process (not a Temporal server)';
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** The first pair `(port + k·step, uiPort + k·step)`, k ≥ 1, with both ports free; undefined after `tries`. */
export async function freePortPair(port: number, uiPort: number, host = '127.0.0.1', step = 10, tries = 20): Promise<[number, number] | undefined> {
  for (let k = 1; k <= tries; k++) {
    const pair: [number, number] = [port + k * step, uiPort + k * step];
    if (pair[1] > 65_535) return undefined;
    if ((await portFree(pair[0], host)) && (await portFree(pair[1], host))) return pair;
  }
  return undefined;
}

function accepts(port: number, host: string): Promise<boolean> {
  return new Promise((resolveAccepts) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolveAccepts(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}
