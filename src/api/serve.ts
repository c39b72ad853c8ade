/**
 * Runs the HTTP API on a port with @hono/node-server. The token keys are loaded before the port opens, so a key file
 * that cannot be read stops startup with the reason instead of failing every request.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createAuthenticator } from './auth';
import { createHttpApi, type HttpApiOptions } from './http-api';

/** A listening API. */
export interface RunningHttpApi {
  /** e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Stops accepting connections and resolves once open ones have ended. */
  close(): Promise<void>;
}

/** Starts the API on `host` (default 127.0.0.1) and `port` (0 picks a free one); rejects when the port cannot be bound. */
export async function startHttpApi(options: HttpApiOptions & { port: number; host?: string }): Promise<RunningHttpApi> {
  const auth = 'authenticate' in options.auth ? options.auth : createAuthenticator({ now: options.now, ...options.auth });
  await auth.ready();
  const app = createHttpApi({ ...options, auth });
  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Idle keep-alive connections would hold close() open.
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      }),
  };
}
