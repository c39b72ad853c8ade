import { approvalNeededNotification } from '../../../src/providers/notify/approval-message';
import { createNotifier } from '../../../src/providers/notify/create-notifier';
import { NotifyFailed } from '../../../src/providers/notify/notify-failed';
import { type SlackBlock, type SlackPayload, slackPayload } from '../../../src/providers/notify/slack-notifier';
import { notifierContract, SAMPLE, startReceiver, type LocalReceiver } from './notifier.contract';

const VARIABLE = 'TEST_SLACK_WEBHOOK_URL';
const webhookEnv = (receiverUrl: string, secret: string) => ({ [VARIABLE]: `${receiverUrl}/services/T0001/B0001/${secret}` });

const blockTexts = (payload: SlackPayload): string[] =>
  payload.blocks.flatMap((b: SlackBlock) => {
    if (b.type === 'header') return [b.text.text];
    if (b.type === 'context') return b.elements.map((e) => e.text);
    return 'fields' in b ? b.fields.map((f) => f.text) : [b.text.text];
  });

notifierContract({
  kind: 'slack',
  name: 'ops-slack',
  secretVariable: VARIABLE,
  env: webhookEnv,
  create: (env, _url, timeoutMs) => createNotifier('ops-slack', { type: 'slack', webhookUrlEnv: VARIABLE }, env, { timeoutMs }),
  assertPayload: (request, notification) => {
    expect(request.path).toMatch(/^\/services\/T0001\/B0001\//);
    const payload = request.json as SlackPayload;
    expect(payload.text).toContain(notification.message);
    expect(payload.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    expect(blockTexts(payload).join('\n')).toContain(notification.rolloutId);
  },
});

describe('Slack payload', () => {
  it('shows the headline, the message, the evidence as fields, each command in a code block and the rollout', () => {
    const payload = slackPayload(SAMPLE);
    expect(payload.text).toBe(`Trigger fired: rollout:checkout-v2:prod\n${SAMPLE.message}`);
    expect(payload.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: ':red_circle: Trigger fired: rollout:checkout-v2:prod', emoji: true },
    });
    expect(payload.blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: SAMPLE.message } });
    expect(payload.blocks[2]).toEqual({
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*error-rate*\n2.4% &gt; 1% (fail)' },
        { type: 'mrkdwn', text: '*p99 latency*\n310 ms &lt;= 400 ms (pass)' },
      ],
    });
    expect(payload.blocks[3]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*Resume*\n```canary resume rollout:checkout-v2:prod```' } });
    expect(payload.blocks[4]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: '<http://localhost:8233/namespaces/default/workflows/rollout:checkout-v2:prod|History>' },
    });
    expect(payload.blocks[5]).toEqual({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'rollout `rollout:checkout-v2:prod`  ·  event `trigger-fired`  ·  severity *critical*' }],
    });
    expect(payload.channel).toBeUndefined();
  });

  it('escapes &, < and > so a message cannot mention @channel or break a link', () => {
    const payload = slackPayload({ channel: 'c', event: 'hold', rolloutId: 'r', message: 'ping <!channel> & <@U123>' });
    expect(blockTexts(payload)).toContain('ping &lt;!channel&gt; &amp; &lt;@U123&gt;');
  });

  it('keeps within Slack limits: 150-character header, 10 fields per section, at most 50 blocks', () => {
    const fields = Array.from({ length: 23 }, (_, i) => ({ label: `gate-${i}`, value: String(i) }));
    const actions = Array.from({ length: 60 }, (_, i) => ({ label: `a${i}`, command: `run ${i}` }));
    const payload = slackPayload({ channel: 'c', event: 'hold', rolloutId: 'r', message: 'm', title: 'x'.repeat(400), fields, actions });
    const header = payload.blocks[0] as Extract<SlackBlock, { type: 'header' }>;
    expect(header.text.text).toHaveLength(150);
    const fieldSections = payload.blocks.filter((b) => 'fields' in b) as Array<{ fields: unknown[] }>;
    expect(fieldSections.map((s) => s.fields.length)).toEqual([10, 10, 3]);
    expect(payload.blocks).toHaveLength(50);
    expect(payload.blocks[49]!.type).toBe('context');
  });

  it('marks a resolution in the headline and passes the configured channel override', () => {
    const payload = slackPayload({ channel: 'c', event: 'rollback', rolloutId: 'rollout:a:b', message: 'recovered', resolve: true }, '#releases');
    expect(payload.channel).toBe('#releases');
    expect(payload.text.startsWith('Resolved: Rollback: rollout:a:b')).toBe(true);
    expect((payload.blocks[0] as Extract<SlackBlock, { type: 'header' }>).text.text).toBe(':white_check_mark: Resolved: Rollback: rollout:a:b');
  });

  it('puts the exact approve command of an approval request in a code block', () => {
    const notification = approvalNeededNotification({
      channel: 'approvals',
      rolloutId: 'rollout:checkout-v2:prod',
      planName: 'Checkout v2',
      phase: 'ten-percent',
      role: 'cfo',
      quorum: { have: 0, need: 1 },
      evidence: [],
    });
    expect(blockTexts(slackPayload(notification))).toContain('*Approve (replace YOUR_ID with your approver id)*\n```canary approve rollout:checkout-v2:prod --role cfo --by YOUR_ID```');
  });
});

describe('Slack notifier against a receiver that answers like Slack', () => {
  let receiver: LocalReceiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it("reports Slack's reason when it refuses the payload", async () => {
    receiver.answer = { status: 400, body: 'invalid_payload' };
    const notifier = createNotifier('ops-slack', { type: 'slack', webhookUrlEnv: VARIABLE }, webhookEnv(receiver.url, 'abc123secret'));
    const err = (await notifier.send(SAMPLE).catch((e: unknown) => e)) as NotifyFailed;
    expect(err).toBeInstanceOf(NotifyFailed);
    expect(err.message).toBe('slack channel "ops-slack": Slack answered HTTP 400: invalid_payload');
  });

  it('sends the channel override from the plan', async () => {
    receiver.answer = { status: 200, body: 'ok' };
    receiver.requests.length = 0;
    const notifier = createNotifier('ops-slack', { type: 'slack', webhookUrlEnv: VARIABLE, channel: '#releases' }, webhookEnv(receiver.url, 'abc123secret'));
    await notifier.send(SAMPLE);
    expect(receiver.requests).toHaveLength(1);
    expect((receiver.requests[0]!.json as SlackPayload).channel).toBe('#releases');
  });

  it('refuses a variable that does not hold an http(s) URL without showing it', async () => {
    const notifier = createNotifier('ops-slack', { type: 'slack', webhookUrlEnv: VARIABLE }, { [VARIABLE]: 'xoxb-not-a-url-secret' });
    const err = (await notifier.send(SAMPLE).catch((e: unknown) => e)) as NotifyFailed;
    expect(err.message).toBe(`slack channel "ops-slack": ${VARIABLE} does not hold an http(s) URL; set it to the receiver's URL`);
    expect(err.retryable).toBe(false);
  });
});
