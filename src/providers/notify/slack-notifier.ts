/**
 * The Slack channel: posts to an incoming webhook. The payload carries `text` (shown in push notifications and by
 * clients without Block Kit) and `blocks`: a header, the message, the evidence as fields, each action's command in a
 * code block, links, and a context line naming the rollout, the event and the severity.
 */
import {
  answerFailure,
  DEFAULT_NOTIFY_TIMEOUT_MS,
  isSuccess,
  postJson,
  readSecret,
  type ChannelRef,
} from './http-delivery';
import { notificationTitle, type Notification, type NotificationSeverity, type Notifier } from './notifier';

export interface SlackNotifierOptions {
  /** The plan's name for the channel (named in errors). */
  name: string;
  /** The environment variable holding the incoming-webhook URL (the URL is the secret). */
  webhookUrlEnv: string;
  /** A channel override ("#releases"); honoured by legacy webhooks, ignored by app webhooks bound to one channel. */
  channel?: string;
  /** Where the variable is read at send time; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Slack's limits for the parts used here (Block Kit reference). */
const LIMIT = { header: 150, sectionText: 3000, field: 2000, fieldsPerSection: 10, text: 3000, blocks: 50 } as const;

const SEVERITY_EMOJI: Record<NotificationSeverity, string> = {
  critical: ':red_circle:',
  error: ':large_orange_circle:',
  warning: ':large_yellow_circle:',
  info: ':large_blue_circle:',
};

/** A Block Kit block, as far as this channel builds them. */
export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji: true } }
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'section'; fields: Array<{ type: 'mrkdwn'; text: string }> }
  | { type: 'context'; elements: Array<{ type: 'mrkdwn'; text: string }> };

/** The JSON posted to the webhook. */
export interface SlackPayload {
  text: string;
  blocks: SlackBlock[];
  channel?: string;
}

/**
 * Sends each notification as one Slack message. Rejects with a `NotifyFailed` naming the channel when the variable is
 * unset, the webhook does not answer in time, or Slack answers non-2xx (with Slack's reason, e.g. `invalid_payload`,
 * `no_service`, `channel_not_found`).
 */
export class SlackNotifier implements Notifier {
  private readonly ref: ChannelRef;

  constructor(private readonly options: SlackNotifierOptions) {
    this.ref = { kind: 'slack', name: options.name };
  }

  async send(notification: Notification): Promise<void> {
    const env = this.options.env ?? process.env;
    const url = readSecret(env, this.options.webhookUrlEnv, this.ref, 'the Slack incoming-webhook URL');
    const payload = slackPayload(notification, this.options.channel);
    const answer = await postJson({
      channel: this.ref,
      url,
      urlSource: this.options.webhookUrlEnv,
      body: JSON.stringify(payload),
      timeoutMs: this.options.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS,
      secrets: [url],
    });
    // Incoming webhooks answer 200 "ok"; errors come as a short plain-text reason such as "invalid_payload".
    if (!isSuccess(answer)) throw answerFailure(this.ref, 'Slack', answer, answer.text, [url]);
  }
}

/**
 * Builds the webhook payload of a notification (pure). Text is escaped for Slack's mrkdwn (`&`, `<`, `>`) and cut to
 * Slack's limits with "…", so a long message or many fields never make Slack refuse the payload.
 */
export function slackPayload(notification: Notification, channel?: string): SlackPayload {
  const title = notificationTitle(notification);
  const emoji = notification.resolve ? ':white_check_mark:' : notification.severity ? SEVERITY_EMOJI[notification.severity] : '';
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(emoji ? `${emoji} ${title}` : title, LIMIT.header), emoji: true } },
  ];
  if (notification.message.trim()) blocks.push(section(escape(notification.message)));

  const fields = notification.fields ?? [];
  for (let i = 0; i < fields.length; i += LIMIT.fieldsPerSection) {
    blocks.push({
      type: 'section',
      fields: fields.slice(i, i + LIMIT.fieldsPerSection).map((f) => ({ type: 'mrkdwn', text: cut(`*${escape(f.label)}*\n${escape(f.value)}`, LIMIT.field) })),
    });
  }
  for (const action of notification.actions ?? []) {
    blocks.push(section(`*${escape(action.label)}*\n\`\`\`${escape(action.command)}\`\`\``));
  }
  const links = (notification.links ?? []).map((l) => `<${l.url}|${escape(l.label)}>`);
  if (links.length > 0) blocks.push(section(links.join('  ·  ')));

  const context = [`rollout \`${escape(notification.rolloutId)}\``, `event \`${escape(notification.event)}\``];
  if (notification.severity) context.push(`severity *${notification.severity}*`);
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: context.join('  ·  ') }] });

  const text = cut(`${title}\n${notification.message}`.trim(), LIMIT.text);
  // Slack refuses more than 50 blocks; keep the header, the first blocks and the context line.
  const kept = blocks.length > LIMIT.blocks ? [...blocks.slice(0, LIMIT.blocks - 1), blocks[blocks.length - 1]!] : blocks;
  return channel ? { text, blocks: kept, channel } : { text, blocks: kept };
}

function section(text: string): SlackBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: cutKeepingCodeBlock(text, LIMIT.sectionText) } };
}

/** Slack's mrkdwn treats `&`, `<` and `>` as control characters. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Cuts like {@link cut} but closes an opened code block, so a long command still renders as code. */
function cutKeepingCodeBlock(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = cut(text, max - 3);
  return (head.match(/```/g)?.length ?? 0) % 2 === 1 ? `${head}\`\`\`` : head;
}
