/**
 * `canary sign`: what it prints verifies as the workflow verifies it, and user mistakes end in one line and exit 2.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { registerSignCommand, signMessage } from '../../src/cli/commands/sign';
import { CliContext, ExitCode } from '../../src/cli/context';
import { type ApproverKeys, verifyDecision } from '../../src/providers/identity/approval-signature';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function sign(...argv: string[]): Promise<Run> {
  return signWith({}, ...argv);
}

async function signWith(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const cli = new CliContext({ stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } }, { env });
  const program = new Command('canary')
    .exitOverride()
    .configureOutput({ writeOut: (t) => (stdout += t), writeErr: (t) => (stderr += t) });
  registerSignCommand(program, cli);
  try {
    await program.parseAsync(['sign', ...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode === 0 ? 0 : ExitCode.Usage, stdout, stderr };
    throw err;
  }
  return { code: cli.exitCode, stdout, stderr };
}

describe('canary sign', () => {
  const dir = mkdtempSync(join(tmpdir(), 'canary-sign-'));
  const keyFile = join(dir, 'cfo.jwk.json');
  const publicFile = join(dir, 'cfo.public.jwk.json');
  let publicKey: JWK;
  let keys: ApproverKeys;
  const rollout = 'rollout:checkout-v2:prod';

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const privateKey = { ...(await exportJWK(pair.privateKey)), kid: 'cfo-2026', alg: 'ES256' };
    publicKey = { ...(await exportJWK(pair.publicKey)), kid: 'cfo-2026', alg: 'ES256' };
    writeFileSync(keyFile, JSON.stringify(privateKey));
    writeFileSync(publicFile, JSON.stringify(publicKey));
    keys = { keySet: async () => ({ keys: [publicKey] }) };
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints an approval whose signature verifies for this rollout, role, approver, subject and generated id', async () => {
    const run = await sign(rollout, '--action', 'approve', '--role', 'cfo', '--by', 'cfo@example.com', '--key', keyFile, '--subject', 'phase:full', '--reason', 'budget ok');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const message = JSON.parse(run.stdout) as { id: string; role: string; by: string; subject: string; reason: string; signature: string };
    expect(message).toEqual({ id: expect.stringMatching(/^approve-[0-9a-f-]{36}$/), role: 'cfo', by: 'cfo@example.com', subject: 'phase:full', reason: 'budget ok', signature: expect.any(String) });
    const expected = { rollout, action: 'approve' as const, role: 'cfo', by: 'cfo@example.com', id: message.id, subject: 'phase:full' };
    await expect(verifyDecision(message.signature, expected, keys, [], Date.now())).resolves.toEqual({ verified: true });
    // Bound to the message id: the same signature under another id does not verify.
    const elsewhere = await verifyDecision(message.signature, { ...expected, id: 'approve-other' }, keys, [], Date.now());
    expect(elsewhere).toEqual({ verified: false, problem: expect.stringMatching(/message id/) });
  });

  it('generates a fresh id for each signature unless --id names one', async () => {
    const args = [rollout, '--action', 'reject', '--role', 'cfo', '--by', 'cfo@example.com', '--key', keyFile];
    const first = JSON.parse((await sign(...args)).stdout) as { id: string };
    const second = JSON.parse((await sign(...args)).stdout) as { id: string };
    expect(first.id).not.toBe(second.id);
    const named = JSON.parse((await sign(...args, '--id', 'cfo-no-1')).stdout) as { id: string; signature: string };
    expect(named.id).toBe('cfo-no-1');
    const verdict = await verifyDecision(named.signature, { rollout, action: 'reject', role: 'cfo', by: 'cfo@example.com', id: 'cfo-no-1' }, keys, [], Date.now());
    expect(verdict).toEqual({ verified: true });
  });

  it('signs a token consumption with the key from an environment variable', async () => {
    const env = { CFO_JWK: readFileSync(keyFile, 'utf8') };
    const outcome = await signMessage({ rolloutId: rollout, action: 'consume-token', role: 'cfo', by: 'cfo@example.com', token: 'A2_V26_COMPLIANT', keyEnv: 'CFO_JWK' }, env);
    if (!outcome.ok) throw new Error(outcome.problem);
    expect(Object.keys(outcome.message)).toEqual(['id', 'token', 'role', 'by', 'signature']);
    const expected = { rollout, action: 'consume-token' as const, role: 'cfo', by: 'cfo@example.com', id: outcome.message.id, token: 'A2_V26_COMPLIANT' };
    await expect(verifyDecision(outcome.message.signature, expected, keys, [], Date.now())).resolves.toEqual({ verified: true });
  });

  it("reads --key-env from the CLI's environment at the moment of signing", async () => {
    const run = await signWith({ CFO_JWK: readFileSync(keyFile, 'utf8') }, rollout, '--action', 'approve', '--role', 'cfo', '--by', 'cfo@example.com', '--key-env', 'CFO_JWK');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const message = JSON.parse(run.stdout) as { id: string; signature: string };
    const expected = { rollout, action: 'approve' as const, role: 'cfo', by: 'cfo@example.com', id: message.id };
    await expect(verifyDecision(message.signature, expected, keys, [], Date.now())).resolves.toEqual({ verified: true });
  });

  it('expires the signature after --ttl', async () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    const outcome = await signMessage({ rolloutId: rollout, action: 'approve', role: 'cfo', by: 'cfo@example.com', id: 'a1', key: keyFile, ttl: '15m' }, {}, now);
    if (!outcome.ok) throw new Error(outcome.problem);
    const expected = { rollout, action: 'approve' as const, role: 'cfo', by: 'cfo@example.com', id: 'a1' };
    await expect(verifyDecision(outcome.message.signature, expected, keys, [], now + 14 * 60_000)).resolves.toEqual({ verified: true });
    await expect(verifyDecision(outcome.message.signature, expected, keys, [], now + 16 * 60_000)).resolves.toEqual({ verified: false, problem: expect.stringMatching(/expired/) });
  });

  it.each([
    [['--key', 'missing.json'], /cannot read key file missing.json: ENOENT/],
    [[], /exactly one of --key <private JWK file> or --key-env/],
    [['--key-env', 'CANARY_TEST_UNSET_KEY_VARIABLE'], /environment variable CANARY_TEST_UNSET_KEY_VARIABLE is not set/],
    [['--key', 'PUBLIC'], /holds a public key; sign with the approver's private key/],
    [['--key', 'PRIVATE', '--token', 'T1'], /--token belongs to --action consume-token, not approve/],
    [['--key', 'PRIVATE', '--subject', 'phase'], /--subject must be phase:<name>, budget:<name>, check:<role> or hold, got "phase"/],
    [['--key', 'PRIVATE', '--ttl', 'soon'], /--ttl must be a duration/],
  ])('refuses %j with one line on stderr and exit 2', async (extra, message) => {
    const args = extra.map((a) => (a === 'PUBLIC' ? publicFile : a === 'PRIVATE' ? keyFile : a));
    const run = await sign(rollout, '--action', 'approve', '--role', 'cfo', '--by', 'cfo@example.com', ...args);
    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a consume-token without a token and an unknown action', async () => {
    const noToken = await sign(rollout, '--action', 'consume-token', '--role', 'cfo', '--by', 'cfo@example.com', '--key', keyFile);
    expect(noToken).toMatchObject({ code: ExitCode.Usage, stdout: '', stderr: expect.stringMatching(/needs --token/) });
    const unknown = await sign(rollout, '--action', 'promote', '--role', 'cfo', '--by', 'cfo@example.com', '--key', keyFile);
    expect(unknown).toMatchObject({ code: ExitCode.Usage, stdout: '', stderr: expect.stringMatching(/--action must be one of approve, reject, consume-token, got "promote"/) });
  });

  it('never prints the key held in the environment variable when it is not a JWK', async () => {
    const outcome = await signMessage({ rolloutId: rollout, action: 'approve', role: 'cfo', by: 'x', keyEnv: 'K' }, { K: 'hunter2-not-json' });
    expect(outcome).toEqual({ ok: false, problem: expect.stringMatching(/environment variable K does not hold JSON/) });
    expect(JSON.stringify(outcome)).not.toContain('hunter2');
  });
});
