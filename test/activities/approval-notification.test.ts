/**
 * An approval-needed notification reaches its channel with the rich parts built from the machine's request (as
 * data): the title, each threshold gate against its threshold, and the exact commands to approve — with `--by` and,
 * for a role that signs, `--key`. The machine asks with data; nothing parses its sentence.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createRolloutActivities, type NotifyChannelInput } from '../../src/activities/rollout-activities';
import type { Notification } from '../../src/providers/notify/notifier';
import { feed, type Effects } from '../../src/domain/driver';
import type { RolloutCommand } from '../../src/domain/types';
import { compiled, initialState } from '../helpers/machine';
import { testPlan } from '../helpers/test-plan';

const plan = testPlan(`
roles:
  cfo: { members: [cfo@example.com], signatureRequired: true }
channels:
  finance: { type: webhook, urlEnv: FINANCE_HOOK_URL }
notifications:
  - { on: [approval-needed], channels: [finance] }
analysis: { interval: 1m }
gates:
  - { name: errors-ok, when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 } }
phases:
  - { name: canary, percent: 10, minDuration: 5m }
  - { name: full, percent: 100, minDuration: 5m, approvals: [{ role: cfo, reason: "spend within budget" }] }
`);

describe('an approval-needed notification', () => {
  it('carries the request as data from the machine: role, phase, quorum, signing, and each gate against its threshold', async () => {
    const state = initialState(0);
    const notified: Array<Extract<RolloutCommand, { type: 'notify' }>> = [];
    const effects: Effects = {
      setFlags: async () => undefined,
      setConfig: async () => undefined,
      observe: async (c) => ({ metrics: Object.fromEntries(c.metrics.map((m) => [m, { status: 'ok' as const, value: 0.002 }])) }),
      checkProviders: async () => ({ offline: [] }),
      runTask: async () => ({ ok: true }),
      runCheck: async () => ({ ok: true }),
      notify: async (c) => void notified.push(c),
    };
    await feed(compiled(plan), state, { type: 'start', at: 0 }, effects);
    while (state.wakeAt !== undefined && state.wakeAt <= 10 * 60_000) await feed(compiled(plan), state, { type: 'tick', at: state.wakeAt }, effects);
    expect(notified.find((c) => c.event === 'approval-needed')).toMatchObject({
      channels: ['finance'],
      message: expect.stringContaining('Approve with: canary approve <rollout-id> --role cfo --by <your id> --key <cfo private JWK>'),
      approval: {
        planName: 'test',
        role: 'cfo',
        phase: 'full',
        subject: 'phase:full',
        have: 0,
        need: 1,
        signatureRequired: true,
        reason: 'spend within budget',
        evidence: [{ name: 'errors-ok', value: 0.002, threshold: 0.01, comparator: '<', unit: 'ratio', verdict: 'pass' }],
      },
    });
  });

  it('is sent with the title, the evidence and the exact commands, built by the worker from that request', async () => {
    const sent: Notification[] = [];
    const activities = createRolloutActivities({
      flagStore: () => {
        throw new Error('not used');
      },
      metricSource: () => undefined,
      config: { get: async () => undefined, set: async () => undefined } as never,
      notifier: () => ({ send: async (n: Notification) => void sent.push(n) }),
    });
    const input: NotifyChannelInput = {
      rolloutId: 'rollout:checkout-v2:prod',
      channel: { name: 'finance', config: { type: 'webhook', urlEnv: 'FINANCE_HOOK_URL' } },
      event: 'approval-needed',
      message: 'Approval needed: cfo to enter full',
      idempotencyKey: 'k1',
      approval: { planName: 'Checkout v2', role: 'cfo', phase: 'full', subject: 'phase:full', have: 0, need: 1, signatureRequired: true, evidence: [{ name: 'errors-ok', value: 0.002, threshold: 0.01, comparator: '<', unit: 'ratio', verdict: 'pass' }] },
    };
    await new MockActivityEnvironment().run(activities.notifyChannel, input);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      message: 'Approval needed: cfo to enter full',
      title: 'Approval needed: cfo for phase full of Checkout v2',
      severity: 'info',
      fields: expect.arrayContaining([{ label: '✅ errors-ok', value: '0.002 ratio < 0.01 ratio (pass)' }]),
    });
    expect(sent[0]?.actions?.[0]?.command).toBe('canary approve rollout:checkout-v2:prod --role cfo --by YOUR_ID --key cfo.jwk');
  });
});
