/**
 * The flag file the store writes, evaluated the way an application would: the OpenFeature server SDK with the flagd
 * provider in in-process file mode (`resolverType: 'in-process'`, `offlineFlagSourcePath`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { type Client, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { FlagdFileStore } from '../../../src/providers/flags/flagd-file-store';

const USERS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

let dir: string;
let domainCounter = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'canary-openfeature-'));
});

afterAll(async () => {
  await OpenFeature.close();
  await rm(dir, { recursive: true, force: true });
});

/** A client on its own domain, backed by a fresh in-process flagd provider reading `path`. */
async function clientFor(path: string): Promise<Client> {
  domainCounter += 1;
  const domain = `flagd-file-${domainCounter}`;
  await OpenFeature.setProviderAndWait(domain, new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: path }));
  return OpenFeature.getClient(domain);
}

/** The users who get `true` for the flag. */
async function usersServed(client: Client, flagKey: string): Promise<Set<string>> {
  const served = new Set<string>();
  for (const user of USERS) {
    if (await client.getBooleanValue(flagKey, false, { targetingKey: user })) served.add(user);
  }
  return served;
}

function share(served: Set<string>): number {
  return (served.size / USERS.length) * 100;
}

describe('flag file evaluated by the OpenFeature SDK with the flagd in-process provider', () => {
  // Tolerance in percentage points over 10,000 targeting keys; bucketing is a deterministic hash, so this cannot flake.
  it.each([
    [0, 0],
    [0.5, 0.3],
    [1, 0.5],
    [10, 1.5],
    [50, 1.5],
    [100, 0],
  ])('serves the new variant to %s%% of targeting keys (±%s points)', async (percent, tolerance) => {
    const path = join(dir, `share-${percent}.json`);
    await new FlagdFileStore(path).write('checkout-v2', { enabled: true, percent });
    const served = await usersServed(await clientFor(path), 'checkout-v2');
    expect(Math.abs(share(served) - percent)).toBeLessThanOrEqual(tolerance);
    if (percent > 0) expect(served.size).toBeGreaterThan(0);
  });

  it('keeps every user who had the new variant when the percentage grows', async () => {
    const path = join(dir, 'sticky.json');
    const store = new FlagdFileStore(path);
    await store.write('checkout-v2', { enabled: true, percent: 0.5 });
    const atHalfPercent = await usersServed(await clientFor(path), 'checkout-v2');
    await store.write('checkout-v2', { enabled: true, percent: 10 });
    const atTen = await usersServed(await clientFor(path), 'checkout-v2');
    await store.write('checkout-v2', { enabled: true, percent: 50 });
    const atFifty = await usersServed(await clientFor(path), 'checkout-v2');
    expect([...atHalfPercent].filter((user) => !atTen.has(user))).toEqual([]);
    expect([...atTen].filter((user) => !atFifty.has(user))).toEqual([]);
    expect(atFifty.size).toBeGreaterThan(atTen.size);
  });

  it('gives everyone the default value with reason DISABLED when the flag is killed', async () => {
    const path = join(dir, 'killed.json');
    await new FlagdFileStore(path).write('checkout-v2', { enabled: false, percent: 100 });
    const client = await clientFor(path);
    await expect(usersServed(client, 'checkout-v2')).resolves.toEqual(new Set());
    const details = await client.getBooleanDetails('checkout-v2', false, { targetingKey: 'user-1' });
    expect(details).toMatchObject({ value: false, reason: 'DISABLED' });
  });

  it('serves the default variant off to an evaluation without a targeting key', async () => {
    const path = join(dir, 'no-key.json');
    await new FlagdFileStore(path).write('checkout-v2', { enabled: true, percent: 99 });
    const client = await clientFor(path);
    await expect(client.getBooleanDetails('checkout-v2', true, {})).resolves.toMatchObject({ value: false, variant: 'off' });
  });

  it('buckets two flags at the same percentage independently', async () => {
    const path = join(dir, 'independent.json');
    const store = new FlagdFileStore(path);
    await store.write('checkout-v2-cohort-a', { enabled: true, percent: 50 });
    await store.write('checkout-v2-cohort-b', { enabled: true, percent: 50 });
    const client = await clientFor(path);
    const a = await usersServed(client, 'checkout-v2-cohort-a');
    const b = await usersServed(client, 'checkout-v2-cohort-b');
    const both = [...a].filter((user) => b.has(user)).length;
    // Independent halves overlap on about a quarter of the users; identical bucketing would overlap on half.
    expect(Math.abs((both / USERS.length) * 100 - 25)).toBeLessThanOrEqual(1.5);
  });

  it('picks up a re-write through file watching in a running provider', async () => {
    const path = join(dir, 'watched.json');
    const store = new FlagdFileStore(path);
    await store.write('checkout-v2', { enabled: true, percent: 10 });
    const client = await clientFor(path);
    expect(Math.abs(share(await usersServed(client, 'checkout-v2')) - 10)).toBeLessThanOrEqual(1.5);

    const changed = new Promise<string[]>((resolveChanged) => {
      client.addHandler(ProviderEvents.ConfigurationChanged, (event) => resolveChanged(event?.flagsChanged ?? []));
    });
    await store.write('checkout-v2', { enabled: false, percent: 10 });
    // The provider polls the file (fs.watchFile, about every 5 s) and announces the flags that changed.
    await expect(changed).resolves.toContain('checkout-v2');
    await expect(usersServed(client, 'checkout-v2')).resolves.toEqual(new Set());
  });
});
