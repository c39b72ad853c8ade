import { Command } from 'commander';
import { registerApiCommand } from '../../src/cli/commands/api';
import { CliContext, ExitCode } from '../../src/cli/context';

/** Runs `canary api …` on a fresh program and answers the exit code and what it printed. */
async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const cli = new CliContext({ stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } });
  const program = new Command('canary').exitOverride().configureOutput({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
  registerApiCommand(program, cli);
  await program.parseAsync(['api', ...args], { from: 'user' });
  return { code: cli.exitCode, stdout: out.join(''), stderr: err.join('') };
}

describe('canary api', () => {
  it('refuses to start without a way to verify tokens', async () => {
    const result = await run([]);
    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toBe('canary api: give --jwks <url|file> or --public-key <file> to verify tokens with\n');
  });

  it('refuses two key sources and a port that is not a number', async () => {
    expect((await run(['--jwks', 'jwks.json', '--public-key', 'key.pem'])).stderr).toMatch(/give --jwks or --public-key, not both/);
    const badPort = await run(['--jwks', 'jwks.json', '--port', 'eighty']);
    expect(badPort.code).toBe(ExitCode.Usage);
    expect(badPort.stderr).toMatch(/--port eighty is not a port number/);
  });

  it('fails with the reason when a key file cannot be read, before connecting to Temporal', async () => {
    const jwks = await run(['--jwks', '/nonexistent/jwks.json']);
    expect(jwks.code).toBe(ExitCode.Failed);
    expect(jwks.stderr).toMatch(/^canary api: cannot read the JWKS file \/nonexistent\/jwks.json: ENOENT/);

    const result = await run(['--public-key', '/nonexistent/key.pem']);
    expect(result.code).toBe(ExitCode.Failed);
    expect(result.stderr).toMatch(/^canary api: cannot read the public key \/nonexistent\/key.pem: ENOENT/);
  });
});
