import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagdFileStore } from '../../../src/providers/flags/flagd-file-store';
import { describeFlagStoreContract } from './flag-store.contract';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'canary-flagd-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeFlagStoreContract('flagd file', () => ({
  store: () => new FlagdFileStore(join(dir, 'contract', 'flags.json')),
  // A regular file where the store needs a directory: no permission bits involved, so this fails even as root.
  failingStore: async () => {
    await writeFile(join(dir, 'not-a-directory'), 'x');
    return new FlagdFileStore(join(dir, 'not-a-directory', 'flags.json'));
  },
  failureMessage: /cannot write flag file .*not-a-directory\/flags\.json: .*a part of the path is a file, not a directory/,
  decimals: true,
}));

/** A path in a directory of its own, holding `content` when given (a string as is, anything else as JSON). */
async function freshFile(name: string, content?: unknown): Promise<string> {
  await mkdir(join(dir, name), { recursive: true });
  const path = join(dir, name, 'flags.json');
  if (content !== undefined) await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

describe('FlagdFileStore file format', () => {
  it('writes a boolean flag with fractional targeting and the percentage in metadata', async () => {
    const path = await freshFile('format');
    await new FlagdFileStore(path).write('checkout-v2', { enabled: true, percent: 0.5 });
    const file = await readJson(path);
    expect(file.$schema).toBe('https://flagd.dev/schema/v0/flags.json');
    expect(file.flags).toEqual({
      'checkout-v2': {
        state: 'ENABLED',
        variants: { on: true, off: false },
        defaultVariant: 'off',
        targeting: {
          fractional: [
            ['on', 5],
            ['off', 995],
          ],
        },
        metadata: { rolloutPercent: 0.5 },
      },
    });
  });

  it('writes whole percentages as weights that sum to 100', async () => {
    const path = await freshFile('whole');
    await new FlagdFileStore(path).write('search', { enabled: true, percent: 10 });
    const flags = (await readJson(path)).flags as Record<string, { targeting: unknown }>;
    expect(flags.search?.targeting).toEqual({
      fractional: [
        ['on', 10],
        ['off', 90],
      ],
    });
  });

  it('writes state DISABLED for the kill switch', async () => {
    const path = await freshFile('kill');
    await new FlagdFileStore(path).write('kill-all', { enabled: false, percent: 0 });
    const flags = (await readJson(path)).flags as Record<string, { state: string }>;
    expect(flags['kill-all']?.state).toBe('DISABLED');
  });

  it('keeps top-level keys, unrelated flags and extra metadata of the written flag', async () => {
    const path = await freshFile('preserve', {
      $schema: 'https://flagd.dev/schema/v0/flags.json',
      $evaluators: { isStaff: { ends_with: [{ var: 'email' }, '@example.com'] } },
      metadata: { flagSetId: 'shop' },
      flags: {
        'dark-mode': { state: 'ENABLED', variants: { on: 'dark', off: 'light' }, defaultVariant: 'off' },
        checkout: {
          state: 'ENABLED',
          variants: { on: true, off: false },
          defaultVariant: 'off',
          metadata: { owner: 'payments', rolloutPercent: 5 },
        },
      },
    });
    await new FlagdFileStore(path).write('checkout', { enabled: true, percent: 20 });
    const file = await readJson(path);
    expect(file.$evaluators).toEqual({ isStaff: { ends_with: [{ var: 'email' }, '@example.com'] } });
    expect(file.metadata).toEqual({ flagSetId: 'shop' });
    const flags = file.flags as Record<string, Record<string, unknown>>;
    expect(flags['dark-mode']).toEqual({ state: 'ENABLED', variants: { on: 'dark', off: 'light' }, defaultVariant: 'off' });
    expect(flags.checkout?.metadata).toEqual({ owner: 'payments', rolloutPercent: 20 });
  });

  it('keeps a cohort condition around the fractional rule and moves only the buckets', async () => {
    const cohortRule = { in: [{ var: 'country' }, ['NO', 'SE']] };
    const path = await freshFile('cohort', {
      flags: {
        'checkout-v2-cohort-nordics': {
          state: 'ENABLED',
          variants: { on: true, off: false },
          defaultVariant: 'off',
          targeting: { if: [cohortRule, { fractional: [{ var: 'userId' }, ['on', 1], ['off', 99]] }, 'off'] },
        },
      },
    });
    const store = new FlagdFileStore(path);
    await store.write('checkout-v2-cohort-nordics', { enabled: true, percent: 30 });
    const flags = (await readJson(path)).flags as Record<string, { targeting: unknown }>;
    expect(flags['checkout-v2-cohort-nordics']?.targeting).toEqual({
      if: [
        cohortRule,
        {
          fractional: [
            { var: 'userId' },
            ['on', 30],
            ['off', 70],
          ],
        },
        'off',
      ],
    });
    await expect(store.read('checkout-v2-cohort-nordics')).resolves.toEqual({ enabled: true, percent: 30 });
  });

  it('reads the percentage from the fractional weights when a flag has no rolloutPercent metadata', async () => {
    const path = await freshFile('hand-written', {
      flags: {
        'hand-written': {
          state: 'ENABLED',
          variants: { on: true, off: false },
          defaultVariant: 'off',
          targeting: { fractional: [['on', 1], ['off', 3]] },
        },
      },
    });
    await expect(new FlagdFileStore(path).read('hand-written')).resolves.toEqual({ enabled: true, percent: 25 });
  });

  it('treats an empty file as an empty flag set', async () => {
    const path = await freshFile('empty', '');
    const store = new FlagdFileStore(path);
    await expect(store.read('anything')).resolves.toBeUndefined();
    await store.write('anything', { enabled: true, percent: 1 });
    await expect(store.read('anything')).resolves.toEqual({ enabled: true, percent: 1 });
  });

  it.each([
    ['invalid JSON', '{"flags": {', /not valid JSON/],
    ['a top level that is not an object', '[1, 2]', /top level is not a JSON object/],
    ['no flags object', '{"flag": {}}', /no "flags" object/],
    ['flags that are not an object', '{"flags": []}', /"flags" is not a JSON object/],
  ])('refuses a file with %s, naming the file, and leaves it untouched', async (_, content, problem) => {
    const path = await freshFile(`malformed-${content.length}`, content);
    const store = new FlagdFileStore(path);
    await expect(store.read('checkout')).rejects.toThrow(problem);
    const error = await store.write('checkout', { enabled: true, percent: 10 }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error?.message).toContain(path);
    expect(error?.message).toMatch(problem);
    expect(error?.message).toContain('it is not overwritten');
    await expect(readFile(path, 'utf8')).resolves.toBe(content);
  });

  it('refuses to turn a flag with string variants into a rollout flag', async () => {
    const content = JSON.stringify({ flags: { theme: { state: 'ENABLED', variants: { on: 'dark', off: 'light' }, defaultVariant: 'off' } } });
    const path = await freshFile('string-variants', content);
    await expect(new FlagdFileStore(path).write('theme', { enabled: true, percent: 10 })).rejects.toThrow(/flag "theme" has non-boolean variants/);
    await expect(readFile(path, 'utf8')).resolves.toBe(content);
  });

  it('loses no flag when many writes through separate stores on one file run at once', async () => {
    const path = await freshFile('concurrent');
    const keys = Array.from({ length: 40 }, (_, i) => `flag-${i}`);
    await Promise.all(keys.map((key, i) => new FlagdFileStore(path).write(key, { enabled: true, percent: i })));
    const flags = (await readJson(path)).flags as Record<string, unknown>;
    expect(Object.keys(flags).sort()).toEqual([...keys].sort());
    const store = new FlagdFileStore(path);
    for (const [i, key] of keys.entries()) await expect(store.read(key)).resolves.toEqual({ enabled: true, percent: i });
  });

  it('leaves no temporary files next to the flag file', async () => {
    const path = await freshFile('no-temporaries');
    const store = new FlagdFileStore(path);
    await Promise.all([1, 2, 3].map((percent) => store.write(`flag-${percent}`, { enabled: true, percent })));
    await expect(readdir(join(dir, 'no-temporaries'))).resolves.toEqual(['flags.json']);
  });
});
