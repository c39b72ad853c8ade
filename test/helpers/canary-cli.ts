/**
 * Runs the `canary` CLI in this process (its `main`), with the environment a test gives it, capturing what it prints.
 */
import { main } from '../../src/cli/main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts `canary argv…` with `env`; `stdout()` reads what it printed so far, `done` resolves when it exits. */
export function startCanary(env: () => NodeJS.ProcessEnv, ...argv: string[]): { done: Promise<CliRun>; stdout: () => string } {
  let stdout = '';
  let stderr = '';
  const done = main(
    argv,
    { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } },
    { env: env() },
  ).then((code) => ({ code, stdout, stderr }));
  return { done, stdout: () => stdout };
}
