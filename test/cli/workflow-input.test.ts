/**
 * `canary workflow-input`: the rollout workflow's input for the plain Temporal CLI.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerWorkflowInputCommand } from '../../src/cli/commands/workflow-input';
import { CliContext, ExitCode } from '../../src/cli/context';
import { parsePlanText } from '../../src/plan/load';

async function workflowInput(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const cli = new CliContext({ stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  const program = new Command('canary').exitOverride().configureOutput({ writeOut: (t) => (stdout += t), writeErr: (t) => (stderr += t) });
  registerWorkflowInputCommand(program, cli);
  try {
    await program.parseAsync(['workflow-input', ...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode === 0 ? 0 : ExitCode.Usage, stdout, stderr };
    throw err;
  }
  return { code: cli.exitCode, stdout, stderr };
}

const PLAN = `apiVersion: canary/v1
id: input
name: Input
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
phases:
  - { name: canary-10, percent: 10, minDuration: 1h }
  - { name: full, percent: 100 }
`;

describe('canary workflow-input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'canary-workflow-input-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints {plan} with every default filled in, exactly as the plan loads', async () => {
    writeFileSync(join(dir, 'plan.yaml'), PLAN);
    const run = await workflowInput(join(dir, 'plan.yaml'));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const loaded = parsePlanText(PLAN, 'plan.yaml');
    if (!loaded.ok) throw new Error('fixture plan is invalid');
    expect(JSON.parse(run.stdout)).toEqual({ plan: JSON.parse(JSON.stringify(loaded.plan)) });
    expect((JSON.parse(run.stdout) as { plan: { analysis: { interval: string } } }).plan.analysis.interval).toBe('30s');
  });

  it('writes the input to --out', async () => {
    writeFileSync(join(dir, 'plan.yaml'), PLAN);
    const run = await workflowInput(join(dir, 'plan.yaml'), '--out', join(dir, 'input.json'));
    expect(run).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(JSON.parse(readFileSync(join(dir, 'input.json'), 'utf8'))).toHaveProperty('plan.id', 'input');
  });

  it('prints the issues of an invalid plan with its path and exits 2 without output', async () => {
    writeFileSync(join(dir, 'bad.yaml'), PLAN.replace('percent: 100', 'percent: 140'));
    const run = await workflowInput(join(dir, 'bad.yaml'));
    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(join(dir, 'bad.yaml'));
  });

  it('says where it could not write and exits 2', async () => {
    writeFileSync(join(dir, 'plan.yaml'), PLAN);
    const run = await workflowInput(join(dir, 'plan.yaml'), '--out', join(dir, 'missing', 'input.json'));
    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toMatch(/cannot write .*missing\/input.json: ENOENT; check that its directory exists/);
  });
});
