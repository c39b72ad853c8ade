/**
 * Every command of `canary` takes `--json` (or says in its help why not), and every command that talks to Temporal
 * takes the connection flags. Walks the program as `main` builds it, so a command added later is held to the same.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { CONNECTION_FLAGS } from '../../src/cli/connection-options';
import { CliContext } from '../../src/cli/context';
import { buildProgram, main } from '../../src/cli/main';

/**
 * Commands without `--json`, each with the reason its help gives. Empty: every command has found a JSON form (sign,
 * schema and workflow-input print JSON anyway and take --json for the confirmation lines; worker logs JSON lines).
 */
const WITHOUT_JSON: Record<string, string> = {};

/** Commands that never connect to Temporal: they read files and print. */
const OFFLINE = ['validate', 'plan', 'schema', 'simulate', 'sign', 'workflow-input', 'dev-token'];

const program = buildProgram(new CliContext({ stdout: { write: () => true }, stderr: { write: () => true } }));
const commands = program.commands.map((command) => ({
  name: command.name(),
  flags: command.options.map((option) => option.long),
  help: command.helpInformation(),
}));

const dir = mkdtempSync(join(tmpdir(), 'canary-json-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function canary(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } }, { env: {} });
  return { code, stdout, stderr };
}

describe('the flags every command shares', () => {
  test('the walk finds every command, including the ones that print for scripts', () => {
    expect(commands.map((c) => c.name)).toEqual(expect.arrayContaining(['report', 'sign', 'schema', 'workflow-input', 'worker', 'api', 'alert-intake', 'dev-token', 'list', 'approve']));
  });

  test.each(commands.map((c) => [c.name, c] as const))('canary %s takes --json, or its help says why not', (name, command) => {
    if (name in WITHOUT_JSON) {
      expect(command.flags).not.toContain('--json');
      expect(command.help).toContain(WITHOUT_JSON[name]);
    } else {
      expect(command.flags).toContain('--json');
    }
  });

  test.each(commands.filter((c) => !OFFLINE.includes(c.name)).map((c) => [c.name, c] as const))(
    'canary %s talks to Temporal and takes the connection flags',
    (_name, command) => {
      expect(command.flags).toEqual(expect.arrayContaining([...CONNECTION_FLAGS]));
    },
  );
});

describe('--json on the commands that print files and keys', () => {
  const plan = join(dir, 'plan.yaml');
  writeFileSync(plan, readFileSync(join(__dirname, '..', 'fixtures', 'plans', 'mini.yaml'), 'utf8'));

  test('schema --json --out prints where it wrote, as JSON', async () => {
    const out = join(dir, 'schema.json');
    const run = await canary('schema', '--json', '--out', out);
    expect(run).toEqual({ code: 0, stdout: `${JSON.stringify({ out })}\n`, stderr: '' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toHaveProperty('$schema');
  });

  test('workflow-input --json prints the input, and with --out where it went', async () => {
    const printed = await canary('workflow-input', plan, '--json');
    expect(printed.code).toBe(0);
    expect(JSON.parse(printed.stdout)).toHaveProperty('plan.id');
    const out = join(dir, 'input.json');
    const written = await canary('workflow-input', plan, '--json', '--out', out);
    expect(written.code).toBe(0);
    expect(JSON.parse(written.stdout)).toEqual({ out, planId: (JSON.parse(printed.stdout) as { plan: { id: string } }).plan.id });
  });

  test('sign --json prints the signed message as JSON', async () => {
    const key = join(dir, 'cfo.jwk.json');
    const pair = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(key, JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid: 'cfo-1', alg: 'ES256' }));
    const run = await canary('sign', 'rollout:x:prod', '--action', 'approve', '--role', 'cfo', '--by', 'cfo@example.com', '--key', key, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ role: 'cfo', by: 'cfo@example.com', signature: expect.any(String) });
  });
});
