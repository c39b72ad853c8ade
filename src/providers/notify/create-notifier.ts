/**
 * Builds the notifier for a channel of a plan (`channels:` in the plan). Secrets stay environment variable NAMES
 * here; each notifier reads its variable when it sends, so building one never fails for a missing secret.
 */
import type { Plan } from '../../plan/schema';
import { EmailNotifier } from './email-notifier';
import { type Notification, type Notifier, notificationTitle } from './notifier';
import { PagerDutyNotifier } from './pagerduty-notifier';
import { SlackNotifier } from './slack-notifier';
import { WebhookNotifier } from './webhook-notifier';

/** A channel's settings as the plan states them. */
export type ChannelSettings = Plan['channels'][string];

export interface CreateNotifierOptions {
  /** Where the `log` channel writes its one line per message; default standard output. */
  log?: (line: string) => void;
  /** Overrides every HTTP channel's timeout. */
  timeoutMs?: number;
  /** The PagerDuty events URL (tests point it at a local receiver). */
  pagerDutyEventsUrl?: string;
  /** The name the email channel announces to its mail server (and its default sender domain); default the host name. */
  emailClientName?: string;
}

/** Suffix of the variable that, when set, holds a webhook channel's signing secret: `<urlEnv>_SIGNING_SECRET`. */
export const WEBHOOK_SIGNING_SECRET_SUFFIX = '_SIGNING_SECRET';

/**
 * The notifier for channel `name` configured as `config`:
 * - `slack`, `pagerduty`, `webhook`: HTTP notifiers reading their variables from `env` at send time;
 *   a webhook channel signs its requests when `<urlEnv>_SIGNING_SECRET` is set;
 * - `email`: one message per notification to the channel's `to`, through the mail server whose URL is in `smtpUrlEnv`
 *   (default `SMTP_URL`), read at send time;
 * - `log`: writes one line per message through `options.log`.
 */
export function createNotifier(
  name: string,
  config: ChannelSettings,
  env: NodeJS.ProcessEnv = process.env,
  options: CreateNotifierOptions = {},
): Notifier {
  switch (config.type) {
    case 'slack':
      return new SlackNotifier({ name, webhookUrlEnv: config.webhookUrlEnv, channel: config.channel, env, timeoutMs: options.timeoutMs });
    case 'pagerduty':
      return new PagerDutyNotifier({
        name,
        routingKeyEnv: config.routingKeyEnv,
        severity: config.severity,
        env,
        timeoutMs: options.timeoutMs,
        eventsUrl: options.pagerDutyEventsUrl,
      });
    case 'webhook':
      return new WebhookNotifier({
        name,
        urlEnv: config.urlEnv,
        signingSecretEnv: `${config.urlEnv}${WEBHOOK_SIGNING_SECRET_SUFFIX}`,
        env,
        timeoutMs: options.timeoutMs,
      });
    case 'log': {
      const write = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
      return { send: async (n) => write(logLine(name, n)) };
    }
    case 'email':
      return new EmailNotifier({
        name,
        to: config.to,
        smtpUrlEnv: config.smtpUrlEnv,
        env,
        timeoutMs: options.timeoutMs,
        clientName: options.emailClientName,
      });
  }
}

/**
 * One line for a log: `notify <channel> <event> <rollout>: <title> — <message> | label: value; … | label: command`.
 * Line breaks inside the message become " / ".
 */
export function logLine(name: string, n: Notification): string {
  const oneLine = (text: string) => text.replace(/\s*\r?\n\s*/g, ' / ').trim();
  const parts = [`notify ${name} ${n.event} ${n.rolloutId}: ${oneLine(notificationTitle(n))}`];
  if (n.message.trim()) parts[0] += ` — ${oneLine(n.message)}`;
  if (n.severity) parts.push(`severity: ${n.severity}`);
  if (n.fields?.length) parts.push(n.fields.map((f) => `${f.label}: ${oneLine(f.value)}`).join('; '));
  if (n.actions?.length) parts.push(n.actions.map((a) => `${a.label}: ${oneLine(a.command)}`).join('; '));
  return parts.join(' | ');
}
