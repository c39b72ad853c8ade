/** Removes this jest run's workflow bundle and setup file (written by global-setup.ts). */
import { readFileSync, rmSync } from 'node:fs';
import { SETUP_FILE_ENV, type TestSetup } from './temporal-env';

export default function globalTeardown(): void {
  const file = process.env[SETUP_FILE_ENV];
  if (!file) return;
  const setup = JSON.parse(readFileSync(file, 'utf8')) as TestSetup;
  rmSync(setup.bundlePath, { force: true });
  rmSync(file, { force: true });
}
