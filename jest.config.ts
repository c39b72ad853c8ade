import type { Config } from 'jest';

/**
 * Two groups, run one after the other by `npm test`: the time-skipping server's tests (test/workflows) first, then
 * everything else. The time-skipping test server can lose a workflow task when the machine is saturated — by real
 * servers (PostgreSQL, Unleash, Prometheus) started by the other group's tests — and then waits forever in frozen
 * time; kept apart, neither slows the other down. `CANARY_TEST_GROUP=time-skipping|other` picks one; unset, both.
 */
const TIME_SKIPPING = '<rootDir>/test/workflows/';
const group = process.env.CANARY_TEST_GROUP;

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  ...(group === 'time-skipping' ? { roots: [TIME_SKIPPING] } : {}),
  ...(group === 'other' ? { testPathIgnorePatterns: ['/node_modules/', TIME_SKIPPING] } : {}),
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Resolves the Temporal binaries (installing them if needed) and bundles the workflow code once per run.
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  // Two cores: each Temporal test file runs its own server process.
  maxWorkers: 2,
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.cjs'],
};

export default config;
