import { createNotifier, logLine } from '../../../src/providers/notify/create-notifier';
import { EmailNotifier } from '../../../src/providers/notify/email-notifier';
import { PagerDutyNotifier } from '../../../src/providers/notify/pagerduty-notifier';
import { SlackNotifier } from '../../../src/providers/notify/slack-notifier';
import { WebhookNotifier } from '../../../src/providers/notify/webhook-notifier';
import { SAMPLE } from './notifier.contract';

describe('createNotifier', () => {
  it('builds the notifier of each HTTP channel type without reading any variable', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(createNotifier('s', { type: 'slack', webhookUrlEnv: 'SLACK_URL' }, env)).toBeInstanceOf(SlackNotifier);
    expect(createNotifier('p', { type: 'pagerduty', routingKeyEnv: 'PD_KEY' }, env)).toBeInstanceOf(PagerDutyNotifier);
    expect(createNotifier('w', { type: 'webhook', urlEnv: 'HOOK_URL' }, env)).toBeInstanceOf(WebhookNotifier);
  });

  it('writes exactly one line per message on the log channel, with evidence and commands', async () => {
    const lines: string[] = [];
    const notifier = createNotifier('ops-log', { type: 'log' }, {}, { log: (line) => lines.push(line) });
    await notifier.send({ ...SAMPLE, message: 'first line\nsecond line' });
    expect(lines).toEqual([
      'notify ops-log trigger-fired rollout:checkout-v2:prod: Trigger fired: rollout:checkout-v2:prod — first line / second line' +
        ' | severity: critical | error-rate: 2.4% > 1% (fail); p99 latency: 310 ms <= 400 ms (pass)' +
        ' | Resume: canary resume rollout:checkout-v2:prod',
    ]);
  });

  it('writes only the headline and message when a notification has no structured parts', () => {
    expect(logLine('ops-log', { channel: 'ops-log', event: 'completed', message: 'all phases done', rolloutId: 'rollout:a:b' })).toBe(
      'notify ops-log completed rollout:a:b: Completed: rollout:a:b — all phases done',
    );
  });

  it('builds the email notifier of an email channel without reading its variable', () => {
    expect(createNotifier('finance-mail', { type: 'email', to: ['cfo@example.com'] }, {})).toBeInstanceOf(EmailNotifier);
    expect(createNotifier('finance-mail', { type: 'email', to: ['cfo@example.com'], smtpUrlEnv: 'FINANCE_SMTP_URL' }, {})).toBeInstanceOf(EmailNotifier);
  });
});
