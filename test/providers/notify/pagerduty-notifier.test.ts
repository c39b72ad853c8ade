import { createNotifier } from '../../../src/providers/notify/create-notifier';
import { NotifyFailed } from '../../../src/providers/notify/notify-failed';
import type { Notification } from '../../../src/providers/notify/notifier';
import { type PagerDutyEvent, pagerDutyDedupKey, pagerDutyEvent } from '../../../src/providers/notify/pagerduty-notifier';
import { notifierContract, SAMPLE, startReceiver, type LocalReceiver, type ReceivedRequest } from './notifier.contract';

const VARIABLE = 'TEST_PAGERDUTY_ROUTING_KEY';
const ROUTING_KEY = 'R0UTINGKEY0123456789abcdef012345';
const ACCEPTED = JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: 'canary/rollout:checkout-v2:prod' });

/** Asserts the Events API v2 shape every event must have. */
function expectEventShape(request: ReceivedRequest, routingKey: string): PagerDutyEvent {
  expect(request.path).toBe('/v2/enqueue');
  const event = request.json as PagerDutyEvent;
  expect(event.routing_key).toBe(routingKey);
  expect(['trigger', 'resolve']).toContain(event.event_action);
  expect(event.dedup_key.length).toBeGreaterThan(0);
  expect(event.dedup_key.length).toBeLessThanOrEqual(255);
  if (event.event_action === 'trigger') {
    expect(event.payload?.summary.length).toBeGreaterThan(0);
    expect(event.payload?.summary.length).toBeLessThanOrEqual(1024);
    expect(event.payload?.source.length).toBeGreaterThan(0);
    expect(['critical', 'error', 'warning', 'info']).toContain(event.payload?.severity);
  }
  return event;
}

notifierContract({
  kind: 'pagerduty',
  name: 'oncall',
  secretVariable: VARIABLE,
  accepted: { status: 202, body: ACCEPTED },
  env: (_url, secret) => ({ [VARIABLE]: secret }),
  create: (env, url, timeoutMs) =>
    createNotifier('oncall', { type: 'pagerduty', routingKeyEnv: VARIABLE }, env, { timeoutMs, pagerDutyEventsUrl: `${url}/v2/enqueue` }),
  assertPayload: (request, notification, secret) => {
    const event = expectEventShape(request, secret);
    expect(event.event_action).toBe('trigger');
    expect(event.payload?.summary).toContain(notification.message);
  },
});

describe('PagerDuty events', () => {
  it('sends a trigger with summary, source, severity, component, group, class and the evidence as custom details', () => {
    expect(pagerDutyEvent(SAMPLE, ROUTING_KEY)).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'canary/rollout:checkout-v2:prod',
      client: 'canary',
      payload: {
        summary: `Trigger fired: rollout:checkout-v2:prod: ${SAMPLE.message}`,
        source: 'rollout:checkout-v2:prod',
        severity: 'critical',
        component: 'checkout-v2',
        group: 'prod',
        class: 'trigger-fired',
        custom_details: {
          message: SAMPLE.message,
          event: 'trigger-fired',
          channel: 'releases',
          rollout: 'rollout:checkout-v2:prod',
          evidence: { 'error-rate': '2.4% > 1% (fail)', 'p99 latency': '310 ms <= 400 ms (pass)' },
          actions: { Resume: 'canary resume rollout:checkout-v2:prod' },
        },
      },
      links: [{ href: SAMPLE.links![0]!.url, text: 'History' }],
    });
  });

  it('sends a resolve with only the routing key, the dedup key and the action', () => {
    expect(pagerDutyEvent({ ...SAMPLE, resolve: true }, ROUTING_KEY)).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: 'canary/rollout:checkout-v2:prod',
      client: 'canary',
    });
  });

  it("lets the channel's configured severity win, and defaults to warning when neither says", () => {
    expect(pagerDutyEvent(SAMPLE, ROUTING_KEY, 'info').payload?.severity).toBe('info');
    expect(pagerDutyEvent({ ...SAMPLE, severity: undefined }, ROUTING_KEY).payload?.severity).toBe('warning');
  });

  it('cuts the summary to 1024 characters and keeps a long rollout id a valid, stable dedup key', () => {
    const long = pagerDutyEvent({ ...SAMPLE, message: 'x'.repeat(5000) }, ROUTING_KEY);
    expect(long.payload?.summary).toHaveLength(1024);
    const id = `rollout:${'f'.repeat(300)}:prod`;
    expect(pagerDutyDedupKey(id)).toMatch(/^canary\/sha256:[0-9a-f]{64}$/);
    expect(pagerDutyDedupKey(id)).toBe(pagerDutyDedupKey(id));
    expect(pagerDutyDedupKey(id)).not.toBe(pagerDutyDedupKey(`${id}x`));
  });

  it('uses "canary" as component and no group for a rollout id of another form', () => {
    const event = pagerDutyEvent({ ...SAMPLE, rolloutId: 'my-custom-id' }, ROUTING_KEY);
    expect(event.payload?.component).toBe('canary');
    expect(event.payload).not.toHaveProperty('group');
  });
});

describe('PagerDuty notifier against a receiver that answers like the Events API', () => {
  let receiver: LocalReceiver;
  const env = { [VARIABLE]: ROUTING_KEY };
  const notifier = () => createNotifier('oncall', { type: 'pagerduty', routingKeyEnv: VARIABLE, severity: 'error' }, env, { pagerDutyEventsUrl: `${receiver.url}/v2/enqueue` });

  beforeAll(async () => {
    receiver = await startReceiver();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.answer = { status: 202, body: ACCEPTED };
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('keeps one dedup key per rollout from trigger to resolve, and another for another rollout', async () => {
    const other: Notification = { ...SAMPLE, rolloutId: 'rollout:search-v3:prod' };
    await notifier().send(SAMPLE);
    await notifier().send({ ...SAMPLE, event: 'hold', message: 'held for a decision' });
    await notifier().send(other);
    await notifier().send({ ...SAMPLE, event: 'rollback-verified', message: 'rolled back', resolve: true });

    const events = receiver.requests.map((r) => expectEventShape(r, ROUTING_KEY));
    expect(events.map((e) => e.event_action)).toEqual(['trigger', 'trigger', 'trigger', 'resolve']);
    expect(events[0]!.dedup_key).toBe(events[1]!.dedup_key);
    expect(events[3]!.dedup_key).toBe(events[0]!.dedup_key);
    expect(events[2]!.dedup_key).not.toBe(events[0]!.dedup_key);
    expect(events[0]!.payload?.severity).toBe('error');
  });

  it("reports PagerDuty's message and errors when it refuses the event, without the routing key", async () => {
    receiver.answer = {
      status: 400,
      body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors: [`'${ROUTING_KEY}' is not a valid routing key`] }),
    };
    const err = (await notifier().send(SAMPLE).catch((e: unknown) => e)) as NotifyFailed;
    expect(err).toBeInstanceOf(NotifyFailed);
    expect(err.message).toBe(`pagerduty channel "oncall": PagerDuty answered HTTP 400: Event object is invalid: '[redacted]' is not a valid routing key`);
    expect(err.retryable).toBe(false);
  });

  it('marks a rate-limited event (429) as retryable', async () => {
    receiver.answer = { status: 429, body: '' };
    const err = (await notifier().send(SAMPLE).catch((e: unknown) => e)) as NotifyFailed;
    expect(err.status).toBe(429);
    expect(err.retryable).toBe(true);
  });
});
