/**
 * The contract every HTTP notification channel keeps, run by each channel's test file against a local receiver
 * (node:http on 127.0.0.1, port 0): one message is one request; a receiver failure, an unreachable receiver, a slow
 * receiver and a missing variable are each a NotifyFailed naming the channel (and the variable), never the secret.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NotifyFailed } from '../../../src/providers/notify/notify-failed';
import type { Notification, Notifier } from '../../../src/providers/notify/notifier';

/** One request the receiver got. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
}

/** A local HTTP receiver that records requests and answers as told. */
export interface LocalReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** How the next requests are answered; `hang` never answers. */
  answer: { status: number; body: string; hang?: boolean };
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 and a free port, answering 200 "ok" until told otherwise. */
export async function startReceiver(): Promise<LocalReceiver> {
  const requests: ReceivedRequest[] = [];
  const receiver = { requests, answer: { status: 200, body: 'ok' } } as LocalReceiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, text, json });
      if (receiver.answer.hang) return;
      res.writeHead(receiver.answer.status, { 'content-type': 'text/plain' });
      res.end(receiver.answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** A URL on 127.0.0.1 where nothing listens. */
export async function unusedUrl(): Promise<string> {
  const receiver = await startReceiver();
  await receiver.close();
  return receiver.url;
}

/** How a channel is set up against a receiver. */
export interface ChannelUnderTest {
  /** The channel type, as named in errors ("slack"). */
  kind: string;
  /** The plan's name for the channel, which errors must name. */
  name: string;
  /** The variable holding the channel's secret. */
  secretVariable: string;
  /** The environment that makes the channel deliver to `receiverUrl`, with `secret` as its secret. */
  env(receiverUrl: string, secret: string): NodeJS.ProcessEnv;
  /** The notifier, reading `env`; `receiverUrl` for channels whose URL is not in the environment. */
  create(env: NodeJS.ProcessEnv, receiverUrl: string, timeoutMs?: number): Notifier;
  /** How the real service answers success; default 200 "ok". */
  accepted?: { status: number; body: string };
  /** Asserts the shape of what the receiver got for `notification` sent with `secret`. */
  assertPayload(request: ReceivedRequest, notification: Notification, secret: string): void;
}

/** A notification with every optional part, so payload assertions see all of them. */
export const SAMPLE: Notification = {
  channel: 'releases',
  event: 'trigger-fired',
  message: 'error rate 2.4% is above 1% for 5 minutes; rolling back checkout-v2',
  rolloutId: 'rollout:checkout-v2:prod',
  severity: 'critical',
  fields: [
    { label: 'error-rate', value: '2.4% > 1% (fail)' },
    { label: 'p99 latency', value: '310 ms <= 400 ms (pass)' },
  ],
  actions: [{ label: 'Resume', command: 'canary resume rollout:checkout-v2:prod' }],
  links: [{ label: 'History', url: 'http://localhost:8233/namespaces/default/workflows/rollout:checkout-v2:prod' }],
};

/** Registers the contract's tests for one channel. */
export function notifierContract(channel: ChannelUnderTest): void {
  describe(`${channel.kind} notifier contract`, () => {
    const secret = 'S3cr3t-Value-0123456789abcdef';
    let receiver: LocalReceiver;

    beforeAll(async () => {
      receiver = await startReceiver();
    });
    beforeEach(() => {
      receiver.requests.length = 0;
      receiver.answer = { ...(channel.accepted ?? { status: 200, body: 'ok' }) };
    });
    afterAll(async () => {
      await receiver.close();
    });

    const sendFailure = async (notifier: Notifier): Promise<NotifyFailed> => {
      const outcome = await notifier.send(SAMPLE).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(outcome).toBeInstanceOf(NotifyFailed);
      return outcome as NotifyFailed;
    };

    it('delivers a message as exactly one JSON POST to the receiver', async () => {
      await channel.create(channel.env(receiver.url, secret), receiver.url).send(SAMPLE);
      expect(receiver.requests).toHaveLength(1);
      const request = receiver.requests[0]!;
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toMatch(/^application\/json/);
      expect(request.json).toBeDefined();
      channel.assertPayload(request, SAMPLE, secret);
    });

    it('rejects with an error naming the channel and the status when the receiver answers 500', async () => {
      receiver.answer = { status: 500, body: 'internal error' };
      const err = await sendFailure(channel.create(channel.env(receiver.url, secret), receiver.url));
      expect(err.message).toContain(`${channel.kind} channel "${channel.name}"`);
      expect(err.message).toContain('500');
      expect(err.channel).toBe(channel.name);
      expect(err.status).toBe(500);
      expect(err.retryable).toBe(true);
    });

    it('marks a refused payload (400) as not retryable', async () => {
      receiver.answer = { status: 400, body: 'bad request' };
      const err = await sendFailure(channel.create(channel.env(receiver.url, secret), receiver.url));
      expect(err.status).toBe(400);
      expect(err.retryable).toBe(false);
    });

    it('never puts the secret in an error, even when the receiver echoes it back', async () => {
      const env = channel.env(receiver.url, secret);
      receiver.answer = { status: 500, body: `received ${env[channel.secretVariable] ?? ''} and ${secret}` };
      const err = await sendFailure(channel.create(env, receiver.url));
      expect(err.message).toContain('500');
      expect(err.message).toContain('[redacted]');
      expect(err.message).not.toContain(secret);
      expect(err.stack ?? '').not.toContain(secret);
    });

    it('rejects with a retryable error naming the variable, not its value, when the receiver cannot be reached', async () => {
      const url = await unusedUrl();
      const err = await sendFailure(channel.create(channel.env(url, secret), url));
      expect(err.message).toContain(`${channel.kind} channel "${channel.name}"`);
      expect(err.message).toContain('could not reach');
      expect(err.message).not.toContain(secret);
      expect(err.retryable).toBe(true);
    });

    it('rejects with a retryable error when the receiver does not answer within the timeout', async () => {
      receiver.answer = { status: 200, body: '', hang: true };
      const err = await sendFailure(channel.create(channel.env(receiver.url, secret), receiver.url, 100));
      expect(err.message).toContain('no answer');
      expect(err.message).toContain('100 ms');
      expect(err.message).not.toContain(secret);
      expect(err.retryable).toBe(true);
    });

    it('rejects with an error naming the missing variable and sends nothing', async () => {
      const env = channel.env(receiver.url, secret);
      delete env[channel.secretVariable];
      const err = await sendFailure(channel.create(env, receiver.url));
      expect(err.message).toContain(`environment variable ${channel.secretVariable} is not set`);
      expect(err.message).toContain(`${channel.kind} channel "${channel.name}"`);
      expect(err.retryable).toBe(false);
      expect(receiver.requests).toHaveLength(0);
    });

    it('reads the variable when sending, not when the notifier is built', async () => {
      const env: NodeJS.ProcessEnv = {};
      const notifier = channel.create(env, receiver.url);
      Object.assign(env, channel.env(receiver.url, secret));
      await notifier.send(SAMPLE);
      expect(receiver.requests).toHaveLength(1);
    });
  });
}
