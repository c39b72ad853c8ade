/**
 * The webhook store against a local HTTP server that implements the documented contract (docs/flags.md):
 * GET/PUT {url}/flags/{key} with {"enabled", "percent"}, 404 for unknown flags, bearer token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FlagRolloutState } from '../../../src/providers/flags/flag-store';
import { WebhookFlagStore } from '../../../src/providers/flags/webhook-flag-store';
import { describeFlagStoreContract } from './flag-store.contract';

const TOKEN = 'webhook-test-token';
const env = { FLAG_SERVICE_TOKEN: TOKEN };

interface FlagService {
  url: string;
  flags: Map<string, FlagRolloutState>;
  requests: { method: string; path: string; authorization?: string }[];
  close(): Promise<void>;
}

/** A flag service on 127.0.0.1 keeping flags in memory; `failWrites` answers every PUT with 500. */
async function startFlagService(options: { failWrites?: boolean } = {}): Promise<FlagService> {
  const flags = new Map<string, FlagRolloutState>();
  const requests: FlagService['requests'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const path = req.url ?? '';
      requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization });
      const reply = (status: number, payload?: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(payload === undefined ? '' : JSON.stringify(payload));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, { error: 'unauthorized' });
      const match = /^\/api\/flags\/([^/]+)$/.exec(path);
      if (!match?.[1]) return reply(404, { error: 'no such route' });
      const key = decodeURIComponent(match[1]);
      if (req.method === 'GET') {
        const state = flags.get(key);
        return state ? reply(200, state) : reply(404, { error: `no flag ${key}` });
      }
      if (req.method === 'PUT') {
        if (options.failWrites) return reply(500, { error: 'database unavailable' });
        const state = JSON.parse(body) as FlagRolloutState;
        flags.set(key, { enabled: state.enabled, percent: state.percent });
        return reply(204);
      }
      reply(405, { error: 'method not allowed' });
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/`,
    flags,
    requests,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        // fetch keeps connections alive; without this, close waits for them to time out.
        server.closeAllConnections();
      }),
  };
}

let service: FlagService;
let failing: FlagService;

beforeAll(async () => {
  [service, failing] = await Promise.all([startFlagService(), startFlagService({ failWrites: true })]);
});

afterAll(async () => {
  await Promise.all([service.close(), failing.close()]);
});

describeFlagStoreContract('webhook', () => ({
  store: () => new WebhookFlagStore({ url: service.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env }),
  failingStore: () => new WebhookFlagStore({ url: failing.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env }),
  failureMessage: /flag service http:\/\/127\.0\.0\.1:\d+\/api answered 500 to PUT \/flags\/.*database unavailable/,
  decimals: true,
}));

describe('WebhookFlagStore', () => {
  it('sends the bearer token from the named environment variable and URL-encodes the flag key', async () => {
    const store = new WebhookFlagStore({ url: service.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env });
    await store.write('checkout v2/beta', { enabled: true, percent: 5 });
    expect(service.flags.get('checkout v2/beta')).toEqual({ enabled: true, percent: 5 });
    const sent = service.requests.filter((r) => r.path === '/api/flags/checkout%20v2%2Fbeta');
    expect(sent.map((r) => r.method)).toEqual(['PUT', 'GET']);
    expect(sent.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('names the variable, not the secret, when the token variable is not set', async () => {
    const store = new WebhookFlagStore({ url: service.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env: {} });
    await expect(store.read('checkout')).rejects.toThrow('environment variable FLAG_SERVICE_TOKEN is not set');
  });

  it('points at the token variable when the service rejects the token', async () => {
    const store = new WebhookFlagStore({ url: service.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env: { FLAG_SERVICE_TOKEN: 'wrong' } });
    const error = await store.write('checkout', { enabled: true, percent: 1 }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error?.message).toMatch(/answered 401 to PUT \/flags\/checkout/);
    expect(error?.message).toContain('check the token in FLAG_SERVICE_TOKEN');
    expect(error?.message).not.toContain('wrong');
  });

  it('reports a service that is not listening as unreachable', async () => {
    const closed = await startFlagService();
    await closed.close();
    const store = new WebhookFlagStore({ url: closed.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env });
    await expect(store.read('checkout')).rejects.toThrow(/cannot reach flag service http:\/\/127\.0\.0\.1:\d+\/api \(GET \/flags\/checkout\)/);
  });

  it('refuses an answer that is not a rollout state', async () => {
    service.flags.set('garbled', { enabled: 'yes', percent: 5 } as unknown as FlagRolloutState);
    const store = new WebhookFlagStore({ url: service.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env });
    await expect(store.read('garbled')).rejects.toThrow(/expected \{"enabled": boolean, "percent": 0–100\}/);
  });

  it('fails a write that the service acknowledges but does not store', async () => {
    const forgetful = await startFlagService();
    try {
      const store = new WebhookFlagStore({ url: forgetful.url, tokenEnv: 'FLAG_SERVICE_TOKEN', env });
      await store.write('checkout', { enabled: true, percent: 10 });
      forgetful.flags.set = function ignore(this: Map<string, FlagRolloutState>) {
        return this;
      };
      await expect(store.write('checkout', { enabled: true, percent: 20 })).rejects.toThrow(
        /accepted \{"enabled":true,"percent":20\} but reads back \{"enabled":true,"percent":10\}/,
      );
    } finally {
      await forgetful.close();
    }
  });
});
