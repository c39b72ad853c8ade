/**
 * The contract every MetricSource keeps, run against each implementation by its own test file: a healthy source
 * answers a known value, "no data", "bad data" and "source down" are three different readings, query() never rejects
 * for source problems, and every reading carries the query as it was sent.
 */
import type { MetricSource, MetricQueryContext } from '../../../src/providers/metrics/metric-source';

/** A source in a given state and a query that exercises that state. */
export interface ContractCase {
  source: MetricSource;
  query: string;
}

/** Builds a source in each state the contract checks. Called inside tests, after the suite's own beforeAll. */
export interface MetricSourceContractFactory {
  /** A source that answers `query` with `expected`. */
  healthy(): Promise<ContractCase & { expected: number }> | (ContractCase & { expected: number });
  /** A reachable source for which `query` matches nothing. */
  noData(): Promise<ContractCase> | ContractCase;
  /** A reachable source whose answer to `query` is unusable (NaN, wrong shape). */
  badData(): Promise<ContractCase> | ContractCase;
  /** A source that cannot answer (not reachable, failing). */
  down(): Promise<ContractCase> | ContractCase;
  /**
   * True when "down" is replayed data rather than an unreachable source (the scenario source): then isOnline() says
   * nothing about it and is not asserted to be false.
   */
  downIsScripted?: boolean;
}

const CTX: MetricQueryContext = { at: Date.parse('2026-01-14T08:05:00Z'), rolloutStartedAt: Date.parse('2026-01-14T08:00:00Z') };

/** Registers the contract's tests for one implementation. */
export function describeMetricSourceContract(implementation: string, factory: MetricSourceContractFactory): void {
  describe(`${implementation} keeps the MetricSource contract`, () => {
    it('answers a healthy query with its value and the query as sent', async () => {
      const { source, query, expected } = await factory.healthy();
      const reading = await source.query('contract_metric', query, CTX);
      expect(reading).toEqual(expect.objectContaining({ status: 'ok', query }));
      expect(reading.status === 'ok' && reading.value).toBeCloseTo(expected, 6);
    });

    it('reports a healthy source as online', async () => {
      const { source } = await factory.healthy();
      await expect(source.isOnline()).resolves.toBe(true);
    });

    it('answers no-data, not zero, when the query matches nothing', async () => {
      const { source, query } = await factory.noData();
      await expect(source.query('contract_metric', query, CTX)).resolves.toEqual({ status: 'no-data', query });
    });

    it('answers invalid with a detail when the data is unusable', async () => {
      const { source, query } = await factory.badData();
      const reading = await source.query('contract_metric', query, CTX);
      expect(reading).toEqual({ status: 'invalid', detail: expect.any(String), query });
      expect(reading.status === 'invalid' && reading.detail.length).toBeGreaterThan(0);
    });

    it('answers error with a detail, instead of rejecting, when the source is down', async () => {
      const { source, query } = await factory.down();
      const reading = await source.query('contract_metric', query, CTX);
      expect(reading).toEqual({ status: 'error', detail: expect.any(String), query });
      expect(reading.status === 'error' && reading.detail.length).toBeGreaterThan(0);
    });

    if (!factory.downIsScripted) {
      it('reports a source that is down as offline', async () => {
        const { source } = await factory.down();
        await expect(source.isOnline()).resolves.toBe(false);
      });
    }
  });
}
