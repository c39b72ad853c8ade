import {
  APPROVER_PLACEHOLDER,
  type ApprovalMessageInput,
  approvalNeededNotification,
  approveActions,
  describeEvidence,
} from '../../../src/providers/notify/approval-message';
import type { ApproveInput } from '../../../src/workflows/messages';

const INPUT: ApprovalMessageInput = {
  channel: 'approvals',
  rolloutId: 'rollout:ceo-sprint:prod',
  planName: 'CEO sprint checkout',
  phase: 'twenty-five-percent',
  role: 'cfo',
  quorum: { have: 1, need: 2 },
  reason: 'Go to 25% of paying customers',
  evidence: [
    { name: 'error-rate', value: 0.4, threshold: 1, comparator: '<', unit: '%', verdict: 'pass' },
    { name: 'p99-latency', value: 230, threshold: 300, comparator: '<=', unit: 'ms', verdict: 'pass' },
    { name: 'conversion', value: 3.1, threshold: 3, comparator: '>=', verdict: 'pass' },
  ],
};

/** The JSON inside the single quotes after --input. */
function signalInput(command: string): ApproveInput {
  const json = /--input '(.*)'$/.exec(command)?.[1];
  expect(json).toBeDefined();
  return JSON.parse(json!) as ApproveInput;
}

describe('approval-needed message', () => {
  it('says what is approved, by which role, and how far the quorum is', () => {
    const n = approvalNeededNotification(INPUT);
    expect(n).toMatchObject({ channel: 'approvals', event: 'approval-needed', rolloutId: 'rollout:ceo-sprint:prod', severity: 'info' });
    expect(n.title).toBe('Approval needed: cfo for phase twenty-five-percent of CEO sprint checkout');
    expect(n.message).toBe(
      [
        'CEO sprint checkout (rollout:ceo-sprint:prod) waits for cfo approval of phase twenty-five-percent: 1 of 2 — 1 more needed.',
        'What is approved: Go to 25% of paying customers',
        'All 3 gates pass.',
      ].join('\n'),
    );
    expect(n.fields?.slice(0, 3)).toEqual([
      { label: 'Phase', value: 'twenty-five-percent' },
      { label: 'Role', value: 'cfo' },
      { label: 'Approvals', value: '1 of 2 — 1 more needed' },
    ]);
  });

  it("lists each gate's current value against its threshold, in the given order", () => {
    expect(approvalNeededNotification(INPUT).fields?.slice(3)).toEqual([
      { label: '✅ error-rate', value: '0.4% < 1% (pass)' },
      { label: '✅ p99-latency', value: '230 ms <= 300 ms (pass)' },
      { label: '✅ conversion', value: '3.1 >= 3 (pass)' },
    ]);
  });

  it('warns when a gate does not pass, naming it, and shows a missing value as no data', () => {
    const n = approvalNeededNotification({
      ...INPUT,
      evidence: [INPUT.evidence[0]!, { name: 'refund-rate', value: undefined, threshold: 2, comparator: '<', unit: '%', verdict: 'no-data' }],
    });
    expect(n.severity).toBe('warning');
    expect(n.message.split('\n')[2]).toBe('1 of 2 gates do not pass: refund-rate (no-data).');
    expect(n.fields?.[4]).toEqual({ label: '❔ refund-rate', value: 'no data (threshold < 2%) (no-data)' });
  });

  it('gives the canary command and the temporal signal with the fields of ApproveInput', () => {
    const [approve, temporal] = approvalNeededNotification(INPUT).actions!;
    // Run as printed (with the id filled in), it is accepted: --by names the approver, not whoever runs the shell.
    expect(approve).toEqual({ label: `Approve (replace ${APPROVER_PLACEHOLDER} with your approver id)`, command: `canary approve rollout:ceo-sprint:prod --role cfo --by ${APPROVER_PLACEHOLDER}` });
    expect(temporal!.command).toBe(
      `temporal workflow signal --workflow-id rollout:ceo-sprint:prod --name approve --input '{"role":"cfo","by":"${APPROVER_PLACEHOLDER}","subject":"phase:twenty-five-percent"}'`,
    );
    expect(temporal!.label).toContain(APPROVER_PLACEHOLDER);
    const input = signalInput(temporal!.command);
    expect(input).toEqual({ role: 'cfo', by: APPROVER_PLACEHOLDER, subject: 'phase:twenty-five-percent' });
  });

  it('quotes a workflow id and a subject that a shell would split, and adds the namespace when given', () => {
    const [approve, temporal] = approveActions({ rolloutId: "odd id's", role: 'ceo', phase: 'full', subject: "budget:ceo's", namespace: 'prod-ns' });
    expect(approve!.command).toBe(`canary approve 'odd id'\\''s' --role ceo --by YOUR_ID`);
    expect(temporal!.command).toBe(
      `temporal workflow signal --workflow-id 'odd id'\\''s' --namespace prod-ns --name approve --input '{"role":"ceo","by":"YOUR_ID","subject":"budget:ceo'\\''s"}'`,
    );
  });

  it('for a role that signs, the canary command carries the private key and the temporal one says to sign first', () => {
    const [approve, temporal] = approveActions({ rolloutId: 'r', role: 'cfo', phase: 'full', signatureRequired: true });
    expect(approve).toEqual({ label: 'Approve (replace YOUR_ID with your approver id; cfo.jwk is your private key)', command: 'canary approve r --role cfo --by YOUR_ID --key cfo.jwk' });
    expect(temporal!.label).toContain('sign the input with `canary sign` first');
  });

  it('links the approval page when there is one, and says so when no evidence was recorded', () => {
    const n = approvalNeededNotification({ ...INPUT, evidence: [], quorum: { have: 2, need: 2 }, approvalUrl: 'https://canary.example.com/approve/1' });
    expect(n.links).toEqual([{ label: 'Review and approve', url: 'https://canary.example.com/approve/1' }]);
    expect(n.message).toContain('No gate evidence was recorded for this phase.');
    expect(n.fields?.[2]).toEqual({ label: 'Approvals', value: '2 of 2' });
  });

  it('formats values without a unit, and with % attached', () => {
    expect(describeEvidence({ name: 'n', value: 'green', threshold: 'green', comparator: '==', verdict: 'pass' })).toBe('green == green (pass)');
    expect(describeEvidence({ name: 'n', value: 5, threshold: 1, comparator: '<', unit: '%', verdict: 'fail' })).toBe('5% < 1% (fail)');
  });
});
