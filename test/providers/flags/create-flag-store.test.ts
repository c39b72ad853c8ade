import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFlagStore } from '../../../src/providers/flags/create-flag-store';
import { FlagdFileStore } from '../../../src/providers/flags/flagd-file-store';
import { UnleashFlagStore } from '../../../src/providers/flags/unleash-store';
import { WebhookFlagStore } from '../../../src/providers/flags/webhook-flag-store';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'canary-create-flag-store-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('createFlagStore', () => {
  it('writes a flagd-file provider to its path relative to the root', async () => {
    const store = createFlagStore('flags', { type: 'flagd-file', path: 'flags/checkout.json' }, { root });
    expect(store).toBeInstanceOf(FlagdFileStore);
    await store.write('checkout-v2', { enabled: true, percent: 5 });
    const file = JSON.parse(await readFile(join(root, 'flags', 'checkout.json'), 'utf8')) as { flags: Record<string, unknown> };
    expect(Object.keys(file.flags)).toEqual(['checkout-v2']);
  });

  it('builds an Unleash store that reads its token from the given environment', async () => {
    const store = createFlagStore(
      'unleash',
      { type: 'unleash', url: 'http://127.0.0.1:9', tokenEnv: 'UNLEASH_TOKEN', project: 'default', environment: 'production' },
      { env: {} },
    );
    expect(store).toBeInstanceOf(UnleashFlagStore);
    await expect(store.read('checkout-v2')).rejects.toThrow('environment variable UNLEASH_TOKEN is not set');
  });

  it('builds a webhook store that reads its token from the given environment', async () => {
    const store = createFlagStore('hook', { type: 'webhook', url: 'http://127.0.0.1:9', tokenEnv: 'FLAGS_TOKEN' }, { env: {} });
    expect(store).toBeInstanceOf(WebhookFlagStore);
    await expect(store.read('checkout-v2')).rejects.toThrow('environment variable FLAGS_TOKEN is not set');
  });
});
