import { createHmac } from 'node:crypto';
import { createNotifier } from '../../../src/providers/notify/create-notifier';
import { NotifyFailed } from '../../../src/providers/notify/notify-failed';
import {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  type WebhookNotificationBody,
  WebhookNotifier,
  webhookBody,
} from '../../../src/providers/notify/webhook-notifier';
import { notifierContract, SAMPLE, startReceiver, type LocalReceiver } from './notifier.contract';

const VARIABLE = 'TEST_WEBHOOK_URL';
const SIGNING_VARIABLE = `${VARIABLE}_SIGNING_SECRET`;
const webhookEnv = (receiverUrl: string, secret: string) => ({ [VARIABLE]: `${receiverUrl}/hooks/canary?token=${secret}` });

notifierContract({
  kind: 'webhook',
  name: 'audit-hook',
  secretVariable: VARIABLE,
  env: webhookEnv,
  create: (env, _url, timeoutMs) => createNotifier('audit-hook', { type: 'webhook', urlEnv: VARIABLE }, env, { timeoutMs }),
  assertPayload: (request, notification) => {
    expect(request.path.startsWith('/hooks/canary?token=')).toBe(true);
    const body = request.json as WebhookNotificationBody;
    expect(body.version).toBe(1);
    expect(body.kind).toBe('canary.notification');
    expect(body.rolloutId).toBe(notification.rolloutId);
    expect(body.message).toBe(notification.message);
    expect(request.headers[SIGNATURE_HEADER]).toBeUndefined();
  },
});

describe('webhook body', () => {
  it('carries the version, the notification with every part, and the time of sending', () => {
    expect(webhookBody(SAMPLE, Date.UTC(2025, 4, 6, 10, 30))).toEqual({
      version: 1,
      kind: 'canary.notification',
      sentAt: '2025-05-06T10:30:00.000Z',
      rolloutId: 'rollout:checkout-v2:prod',
      channel: 'releases',
      event: 'trigger-fired',
      title: 'Trigger fired: rollout:checkout-v2:prod',
      message: SAMPLE.message,
      severity: 'critical',
      resolve: false,
      fields: SAMPLE.fields,
      actions: SAMPLE.actions,
      links: SAMPLE.links,
    });
  });

  it('always has the arrays, and no severity when none is known', () => {
    const body = webhookBody({ channel: 'c', event: 'completed', message: 'done', rolloutId: 'r', resolve: true }, 0);
    expect(body).toMatchObject({ fields: [], actions: [], links: [], resolve: true, title: 'Resolved: Completed: r' });
    expect(body).not.toHaveProperty('severity');
  });
});

describe('webhook signing', () => {
  let receiver: LocalReceiver;
  const signingSecret = 'whsec-0123456789abcdef0123';
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.answer = { status: 200, body: 'ok' };
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('signs the raw body with HMAC-SHA256 over "<timestamp>.<body>" when <urlEnv>_SIGNING_SECRET is set', async () => {
    const env = { ...webhookEnv(receiver.url, 'tok-123456789'), [SIGNING_VARIABLE]: signingSecret };
    await createNotifier('audit-hook', { type: 'webhook', urlEnv: VARIABLE }, env).send(SAMPLE);
    const request = receiver.requests[0]!;
    const timestamp = String(request.headers[TIMESTAMP_HEADER]);
    expect(timestamp).toMatch(/^\d+$/);
    const expected = `v1=${createHmac('sha256', signingSecret).update(`${timestamp}.${request.text}`).digest('hex')}`;
    expect(request.headers[SIGNATURE_HEADER]).toBe(expected);
  });

  it('uses the injected clock for the signature timestamp and sentAt', async () => {
    const now = () => Date.UTC(2025, 0, 2, 3, 4, 5);
    const env = { ...webhookEnv(receiver.url, 'tok-123456789'), [SIGNING_VARIABLE]: signingSecret };
    await new WebhookNotifier({ name: 'audit-hook', urlEnv: VARIABLE, signingSecretEnv: SIGNING_VARIABLE, env, now }).send(SAMPLE);
    const request = receiver.requests[0]!;
    expect(request.headers[TIMESTAMP_HEADER]).toBe(String(now() / 1000));
    expect((request.json as WebhookNotificationBody).sentAt).toBe('2025-01-02T03:04:05.000Z');
  });

  it('keeps the signing secret out of errors when the receiver echoes it', async () => {
    receiver.answer = { status: 403, body: `bad signature for secret ${signingSecret}` };
    const env = { ...webhookEnv(receiver.url, 'tok-123456789'), [SIGNING_VARIABLE]: signingSecret };
    const err = (await createNotifier('audit-hook', { type: 'webhook', urlEnv: VARIABLE }, env).send(SAMPLE).catch((e: unknown) => e)) as NotifyFailed;
    expect(err).toBeInstanceOf(NotifyFailed);
    expect(err.message).toBe('webhook channel "audit-hook": the receiver answered HTTP 403: bad signature for secret [redacted]');
    expect(err.retryable).toBe(false);
  });
});
