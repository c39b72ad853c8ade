/**
 * The one contract every FlagStore implementation must meet, run by each implementation's test file:
 * `describeFlagStoreContract('flagd file', () => harness)`.
 */
import type { FlagRolloutState, FlagStore } from '../../../src/providers/flags/flag-store';

export interface FlagStoreContractHarness {
  /** A store on the backend under test. Tests use distinct flag keys, so the backend may be shared between tests. */
  store(): FlagStore | Promise<FlagStore>;
  /** A store whose writes cannot be stored (unwritable path, server error, rejected token) … */
  failingStore(): FlagStore | Promise<FlagStore>;
  /** … and what its write error must say so that a person can act on it. */
  failureMessage: RegExp;
  /** True when percentages with decimals are stored exactly; false when the backend takes whole percents only. */
  decimals: boolean;
}

let keyCounter = 0;

/** A flag key no other test of this run uses, so tests can share one server. */
function uniqueKey(name: string): string {
  keyCounter += 1;
  return `contract-${process.pid}-${keyCounter}-${name}`;
}

/** Defines the contract tests for one implementation; `harness` is called once per test, after beforeAll hooks ran. */
export function describeFlagStoreContract(implementation: string, harness: () => FlagStoreContractHarness): void {
  describe(`FlagStore contract: ${implementation}`, () => {
    it('reads undefined for a flag that was never written', async () => {
      const store = await harness().store();
      await expect(store.read(uniqueKey('never-written'))).resolves.toBeUndefined();
    });

    it('reads back the state that was written', async () => {
      const store = await harness().store();
      const key = uniqueKey('checkout');
      await store.write(key, { enabled: true, percent: 25 });
      await expect(store.read(key)).resolves.toEqual({ enabled: true, percent: 25 });
    });

    it('stores 0% and 100% exactly', async () => {
      const store = await harness().store();
      const key = uniqueKey('bounds');
      await store.write(key, { enabled: true, percent: 0 });
      await expect(store.read(key)).resolves.toEqual({ enabled: true, percent: 0 });
      await store.write(key, { enabled: true, percent: 100 });
      await expect(store.read(key)).resolves.toEqual({ enabled: true, percent: 100 });
    });

    it('stores percentages with decimals exactly, or refuses them without changing the flag', async () => {
      const { store: makeStore, decimals } = harness();
      const store = await makeStore();
      const key = uniqueKey('decimals');
      await store.write(key, { enabled: true, percent: 2 });
      if (decimals) {
        for (const percent of [0.5, 12.25, 99.9]) {
          await store.write(key, { enabled: true, percent });
          await expect(store.read(key)).resolves.toEqual({ enabled: true, percent });
        }
      } else {
        await expect(store.write(key, { enabled: true, percent: 0.5 })).rejects.toThrow(/whole percent/);
        await expect(store.read(key)).resolves.toEqual({ enabled: true, percent: 2 });
      }
    });

    it('moves the percentage up and down on later writes', async () => {
      const store = await harness().store();
      const key = uniqueKey('steps');
      for (const percent of [1, 10, 50, 5]) {
        await store.write(key, { enabled: true, percent });
        await expect(store.read(key)).resolves.toEqual({ enabled: true, percent });
      }
    });

    it('kills a flag with enabled false and turns it back on', async () => {
      const store = await harness().store();
      const key = uniqueKey('kill-switch');
      await store.write(key, { enabled: true, percent: 50 });
      await store.write(key, { enabled: false, percent: 0 });
      await expect(store.read(key)).resolves.toEqual({ enabled: false, percent: 0 });
      await store.write(key, { enabled: true, percent: 10 });
      await expect(store.read(key)).resolves.toEqual({ enabled: true, percent: 10 });
    });

    it('keeps the percentage of a killed flag when the kill write carries it', async () => {
      const store = await harness().store();
      const key = uniqueKey('kill-keeps');
      await store.write(key, { enabled: true, percent: 30 });
      await store.write(key, { enabled: false, percent: 30 });
      await expect(store.read(key)).resolves.toEqual({ enabled: false, percent: 30 });
    });

    it('leaves other flags as they were when one flag is written', async () => {
      const store = await harness().store();
      const [checkout, search, cohort] = [uniqueKey('checkout'), uniqueKey('search'), uniqueKey('cohort-beta')];
      await store.write(checkout, { enabled: true, percent: 20 });
      await store.write(search, { enabled: false, percent: 40 });
      await store.write(cohort, { enabled: true, percent: 100 });
      await store.write(checkout, { enabled: true, percent: 60 });
      await expect(store.read(search)).resolves.toEqual({ enabled: false, percent: 40 });
      await expect(store.read(cohort)).resolves.toEqual({ enabled: true, percent: 100 });
      await expect(store.read(checkout)).resolves.toEqual({ enabled: true, percent: 60 });
    });

    it('lands every one of several concurrent writes to different flags', async () => {
      const store = await harness().store();
      const keys = Array.from({ length: 6 }, (_, i) => uniqueKey(`concurrent-${i}`));
      await Promise.all(keys.map((key, i) => store.write(key, { enabled: i % 2 === 0, percent: i * 10 })));
      const states = await Promise.all(keys.map((key) => store.read(key)));
      expect(states).toEqual(keys.map((_, i): FlagRolloutState => ({ enabled: i % 2 === 0, percent: i * 10 })));
    });

    it('refuses a percentage outside 0–100 without writing anything', async () => {
      const store = await harness().store();
      const key = uniqueKey('out-of-range');
      await expect(store.write(key, { enabled: true, percent: 101 })).rejects.toThrow(/between 0 and 100/);
      await expect(store.write(key, { enabled: true, percent: -1 })).rejects.toThrow(/between 0 and 100/);
      await expect(store.read(key)).resolves.toBeUndefined();
    });

    it('throws an error that says what failed when a write cannot be stored', async () => {
      const { failingStore, failureMessage } = harness();
      const store = await failingStore();
      await expect(store.write(uniqueKey('unwritable'), { enabled: true, percent: 5 })).rejects.toThrow(failureMessage);
    });
  });
}
