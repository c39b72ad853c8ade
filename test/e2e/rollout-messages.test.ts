import type { JWK } from 'jose';
import { approve, consumeToken, operate, rolloutResult, rolloutStatus, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { signDecision } from '../../src/providers/identity/approval-signature';
import { approveSignal } from '../../src/workflows/messages';
import { approverKeyPair, startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';

// Seconds, not hours: the dev server runs in real time. Updates are tested here because the time-skipping test
// server can hang on them.
const PLAN = `
apiVersion: canary/v1
id: messages
name: Messages
target: { flags: [checkout-v2], provider: flagd, environment: e2e }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  cfo: { members: [cfo@example.com], signatureRequired: true, keys: [cfo-2026] }
  release-manager: { members: [rm@example.com] }
  sre: { members: [sre@example.com] }
controls: { operators: [sre] }
analysis: { interval: 1s }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - name: canary-50
    percent: 50
    minDuration: 1s
    approvals: [{ role: release-manager }]
  - name: full
    percent: 100
    minDuration: 1s
    approvals: [{ role: cfo }]
`;

describe('rollout messages on the dev server', () => {
  let dev: DevRollouts;
  let env: DevRollouts['env'];
  let cfoKey: JWK;

  beforeAll(async () => {
    const cfo = await approverKeyPair('cfo-2026');
    cfoKey = cfo.privateKey;
    dev = await startDevRollouts({ taskQueue: 'messages', approverKeys: [cfo.publicKey] });
    env = dev.env;
  });

  afterAll(async () => {
    await dev?.stop();
  });

  const plan = (): Plan => {
    const parsed = parsePlanText(PLAN, 'messages.yaml');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return parsed.plan;
  };

  it('refuses forged, unknown-role and unsigned approvals with a reason and counts a valid signed one', async () => {
    const id = 'messages-approvals';
    const handle = await startRollout(env.client, plan(), { workflowId: id, taskQueue: 'messages' });
    await expect(approve(handle, { role: 'release-manager', by: 'mallory@example.com' })).rejects.toThrow(/mallory@example.com does not hold the role release-manager/);
    await expect(approve(handle, { role: 'ceo', by: 'rm@example.com' })).rejects.toThrow(/unknown role "ceo"/);
    await expect(operate(handle, { command: 'resume', by: 'sre@example.com', role: 'sre' })).rejects.toThrow(/nothing to resume/);
    const accepted = await approve(handle, { role: 'release-manager', by: 'rm@example.com', reason: 'dashboards clean' });
    expect(accepted.log.map((e) => e.action)).toContain('approve');
    // The CFO's approval is for entering full: it is taken once the rollout waits for it, in canary-50.
    for (let tries = 0; tries < 100 && (await rolloutStatus(handle)).phase !== 'canary-50'; tries++) await new Promise((resolve) => setTimeout(resolve, 100));

    // The CFO's approval needs a signature: unsigned or forged, it is refused and recorded as refused.
    await expect(approve(handle, { role: 'cfo', by: 'cfo@example.com' })).rejects.toThrow(/must carry a valid signature/);
    // Another key that claims the CFO's key id.
    const forgedKey = (await approverKeyPair('cfo-2026')).privateKey;
    const forged = await signDecision({ rollout: id, action: 'approve', role: 'cfo', by: 'cfo@example.com', id: 'cfo-forged' }, forgedKey);
    await expect(approve(handle, { id: 'cfo-forged', role: 'cfo', by: 'cfo@example.com', signature: forged })).rejects.toThrow(/signature does not verify/);
    const wrongRollout = await signDecision({ rollout: 'rollout:other:prod', action: 'approve', role: 'cfo', by: 'cfo@example.com', id: 'cfo-elsewhere' }, cfoKey);
    await expect(approve(handle, { id: 'cfo-elsewhere', role: 'cfo', by: 'cfo@example.com', signature: wrongRollout })).rejects.toThrow(/signature is for rollout/);

    // A raw signal without a signature cannot approve for the CFO either: it is recorded as refused.
    await handle.signal(approveSignal, { id: 'cfo-raw-signal', role: 'cfo', by: 'cfo@example.com' });
    const signature = await signDecision({ rollout: id, action: 'approve', role: 'cfo', by: 'cfo@example.com', id: 'cfo-signed' }, cfoKey);
    const signed = await approve(handle, { id: 'cfo-signed', role: 'cfo', by: 'cfo@example.com', signature });
    expect(signed.log.find((e) => e.action === 'approve')?.reason).toContain('(signature verified)');
    // The same signed message again is ignored, not counted twice.
    await handle.signal(approveSignal, { id: 'cfo-signed', role: 'cfo', by: 'cfo@example.com', signature });

    const result = await rolloutResult(handle);
    expect(result.outcome).toBe('completed');
    const refusals = result.opsLog.filter((e) => e.action === 'refuse').map((e) => e.reason);
    // Recorded: the unsigned update, the forged key, the signature for another rollout, and the raw unsigned signal.
    expect(refusals).toEqual([
      expect.stringMatching(/approval by cfo must carry a valid signature$/),
      expect.stringMatching(/must carry a valid signature: signature does not verify against the cfo keys/),
      expect.stringMatching(/must carry a valid signature: signature is for rollout "rollout:other:prod"/),
      expect.stringMatching(/approval by cfo must carry a valid signature$/),
    ]);
    expect(result.opsLog.filter((e) => e.action === 'approve' && e.reason.includes('cfo'))).toHaveLength(1);
  });

  it('refuses a token that the plan does not know and aborts on an operator update', async () => {
    const handle = await startRollout(env.client, plan(), { workflowId: 'messages-abort', taskQueue: 'messages' });
    await expect(consumeToken(handle, { token: 'NOPE', by: 'cfo@example.com', role: 'cfo' })).rejects.toThrow(/unknown token "NOPE"/);
    const outcome = await operate(handle, { command: 'abort', by: 'sre@example.com', role: 'sre', reason: 'customer escalation' });
    expect(outcome.log.map((e) => e.action)).toContain('rollback');
    expect((await rolloutStatus(handle)).status).toBe('aborted');
    expect((await rolloutResult(handle)).outcome).toBe('aborted');
  });
});
