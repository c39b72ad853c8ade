import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Resolves the Temporal binaries (installing them if needed) and bundles the workflow code once per run.
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  // Two cores: each Temporal test file runs its own server process.
  maxWorkers: 2,
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.cjs'],
};

export default config;
