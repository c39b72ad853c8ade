/**
 * The Unleash store against a real Unleash server (unleash-server on PostgreSQL, started by the test; installed by
 * tools/ci/install-unleash.sh when missing).
 */
import { UnleashFlagStore, type UnleashFlagStoreOptions } from '../../../src/providers/flags/unleash-store';
import { startUnleashServer, type UnleashTestServer } from '../../helpers/unleash-server';
import { describeFlagStoreContract } from './flag-store.contract';

let server: UnleashTestServer;

beforeAll(async () => {
  server = await startUnleashServer();
  const { installMs, postgresMs, unleashMs } = server.timings;
  process.stdout.write(`unleash-server: ${server.url} — install check ${installMs} ms, PostgreSQL ${postgresMs} ms, Unleash start ${unleashMs} ms\n`);
}, 12 * 60_000);

afterAll(async () => {
  await server?.stop();
});

function storeOptions(overrides: Partial<UnleashFlagStoreOptions> = {}): UnleashFlagStoreOptions {
  return {
    url: server.url,
    tokenEnv: 'UNLEASH_ADMIN_TOKEN',
    project: 'default',
    environment: 'production',
    env: { UNLEASH_ADMIN_TOKEN: server.adminToken },
    ...overrides,
  };
}

/** A raw Admin API request, to check what the store did the way an Unleash user would see it. */
async function admin(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: server.adminToken, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  const text = await response.text();
  return text ? (JSON.parse(text) as unknown) : undefined;
}

interface EnvironmentView {
  enabled: boolean;
  strategies: { name: string; parameters: Record<string, string>; constraints: unknown[] }[];
}

async function environmentView(flag: string, environment = 'production'): Promise<EnvironmentView> {
  return (await admin('GET', `/api/admin/projects/default/features/${flag}/environments/${environment}`)) as EnvironmentView;
}

describeFlagStoreContract('Unleash (real server)', () => ({
  store: () => new UnleashFlagStore(storeOptions()),
  failingStore: () => new UnleashFlagStore(storeOptions({ env: { UNLEASH_ADMIN_TOKEN: '*:*.not-a-token' } })),
  failureMessage: /answered 401 to GET \/api\/admin\/projects\/default\/features\/.*check that UNLEASH_ADMIN_TOKEN holds an admin API token/,
  decimals: false,
}));

describe('UnleashFlagStore on a real Unleash server', () => {
  it('writes a gradual rollout with the flag key as group id and default stickiness, in the plan environment only', async () => {
    await new UnleashFlagStore(storeOptions()).write('checkout-v2', { enabled: true, percent: 15 });
    const production = await environmentView('checkout-v2');
    expect(production.enabled).toBe(true);
    expect(production.strategies).toEqual([
      expect.objectContaining({ name: 'flexibleRollout', parameters: { rollout: '15', stickiness: 'default', groupId: 'checkout-v2' } }),
    ]);
    const development = await environmentView('checkout-v2', 'development');
    expect(development).toMatchObject({ enabled: false, strategies: [] });
  });

  it('kills a flag by switching the environment off and keeps the rollout strategy', async () => {
    const store = new UnleashFlagStore(storeOptions());
    await store.write('payments-v3', { enabled: true, percent: 40 });
    await store.write('payments-v3', { enabled: false, percent: 40 });
    const view = await environmentView('payments-v3');
    expect(view.enabled).toBe(false);
    expect(view.strategies.map((s) => s.parameters.rollout)).toEqual(['40']);
  });

  it('updates its own strategy and leaves a strategy an operator added alone', async () => {
    const store = new UnleashFlagStore(storeOptions());
    await store.write('search-v2', { enabled: true, percent: 5 });
    await admin('POST', '/api/admin/projects/default/features/search-v2/environments/production/strategies', {
      name: 'default',
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['qa-1', 'qa-2'] }],
      parameters: {},
    });
    await store.write('search-v2', { enabled: true, percent: 25 });
    const view = await environmentView('search-v2');
    expect(view.strategies.map((s) => [s.name, s.parameters.rollout])).toEqual([
      ['flexibleRollout', '25'],
      ['default', undefined],
    ]);
  });

  it('keeps constraints an operator put on the rollout strategy, so a cohort flag stays limited to its cohort', async () => {
    const store = new UnleashFlagStore(storeOptions());
    await store.write('checkout-v2-cohort-nordics', { enabled: true, percent: 1 });
    const [strategy] = (await admin('GET', '/api/admin/projects/default/features/checkout-v2-cohort-nordics/environments/production/strategies')) as {
      id: string;
      name: string;
      parameters: Record<string, string>;
    }[];
    const cohort = { contextName: 'country', operator: 'IN', values: ['NO', 'SE'], inverted: false, caseInsensitive: false };
    await admin('PUT', `/api/admin/projects/default/features/checkout-v2-cohort-nordics/environments/production/strategies/${strategy?.id}`, {
      name: strategy?.name,
      parameters: strategy?.parameters,
      constraints: [cohort],
    });
    await store.write('checkout-v2-cohort-nordics', { enabled: true, percent: 30 });
    const view = await environmentView('checkout-v2-cohort-nordics');
    expect(view.strategies).toEqual([expect.objectContaining({ constraints: [expect.objectContaining({ contextName: 'country', values: ['NO', 'SE'] })] })]);
    expect(view.strategies[0]?.parameters.rollout).toBe('30');
  });

  it('accepts the server URL with the /api suffix SDKs are configured with', async () => {
    const store = new UnleashFlagStore(storeOptions({ url: `${server.url}/api/` }));
    await store.write('api-url', { enabled: true, percent: 3 });
    await expect(new UnleashFlagStore(storeOptions()).read('api-url')).resolves.toEqual({ enabled: true, percent: 3 });
  });

  it('names the missing environment and the ones the project has', async () => {
    const store = new UnleashFlagStore(storeOptions({ environment: 'staging' }));
    await expect(store.write('checkout-staging', { enabled: true, percent: 5 })).rejects.toThrow(
      /Unleash project "default" has no environment "staging" for feature "checkout-staging" \(it has: development, production\)/,
    );
  });

  it('names the variable, not the secret, when the token variable is not set', async () => {
    const store = new UnleashFlagStore(storeOptions({ env: {} }));
    await expect(store.read('checkout-v2')).rejects.toThrow('environment variable UNLEASH_ADMIN_TOKEN is not set');
  });

  it('never puts the token into an error message', async () => {
    const store = new UnleashFlagStore(storeOptions({ env: { UNLEASH_ADMIN_TOKEN: '*:*.secret-that-is-wrong' } }));
    const error = await store.write('checkout-v2', { enabled: true, percent: 1 }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error?.message).toMatch(/answered 401/);
    expect(error?.message).not.toContain('secret-that-is-wrong');
  });
});
