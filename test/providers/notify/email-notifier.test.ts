/**
 * The email channel against a real (tiny) SMTP server on 127.0.0.1: the message arrives with its envelope, headers
 * and text; the server's URL comes from the variable the plan names; STARTTLS, smtps and AUTH work; every failure is
 * a NotifyFailed naming the channel and the variable, retryable when trying again may help, and never holding the URL
 * or the password.
 */
import { execFileSync } from 'node:child_process';
import dns from 'node:dns';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelConfig } from '../../../src/plan/schema';
import { createNotifier } from '../../../src/providers/notify/create-notifier';
import { EmailNotifier, emailMessage } from '../../../src/providers/notify/email-notifier';
import { NotifyFailed } from '../../../src/providers/notify/notify-failed';
import { isLoopback } from '../../../src/providers/notify/smtp-client';
import type { Notification } from '../../../src/providers/notify/notifier';
import { SAMPLE } from './notifier.contract';
import { decodeHeader, parseMail, type SmtpSink, startSmtpSink } from './smtp-sink';

const PASSWORD = 'pa55-w0rd-not-for-logs';

/** A self-signed certificate for 127.0.0.1, made with openssl for this run. */
let certificate: { key: string; cert: string };
let certDir: string;

beforeAll(() => {
  certDir = mkdtempSync(join(tmpdir(), 'canary-smtp-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
  ], { stdio: 'ignore' });
  certificate = { key: readFileSync(join(certDir, 'key.pem'), 'utf8'), cert: readFileSync(join(certDir, 'cert.pem'), 'utf8') };
});

afterAll(() => rmSync(certDir, { recursive: true, force: true }));

let sinks: SmtpSink[] = [];
async function sink(options?: Parameters<typeof startSmtpSink>[0]): Promise<SmtpSink> {
  const started = await startSmtpSink(options);
  sinks.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  sinks = [];
});

async function failureOf(promise: Promise<unknown>): Promise<NotifyFailed> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotifyFailed);
  return err as NotifyFailed;
}

/** Resolves once `condition` holds; a test that waits in vain ends at its jest timeout. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * The jest timeout of the tests that check that a send ends at all: far above the client's own timeout (300 ms) and
 * far below the jest default, so a send that never settles fails the test instead of stalling the run.
 */
const SETTLES_WITHIN_MS = 10_000;

describe('the email channel', () => {
  it('sends one message to every address the plan names, through the server in the variable the plan names', async () => {
    const server = await sink();
    const channel = ChannelConfig.parse({ type: 'email', to: ['cfo@example.com', 'ceo@example.com'], smtpUrlEnv: 'EXEC_SMTP_URL' });
    const env = { EXEC_SMTP_URL: `${server.url}?from=canary@rollouts.example.com` };
    await createNotifier('executives', channel, env).send({ ...SAMPLE, channel: 'executives', idempotencyKey: 'rollout/run/1/executives' });

    expect(server.received).toHaveLength(1);
    const [mail] = server.received;
    expect(mail?.from).toBe('canary@rollouts.example.com');
    expect(mail?.to).toEqual(['cfo@example.com', 'ceo@example.com']);
    const { headers, text } = parseMail(mail?.data ?? '');
    expect(headers.to).toBe('cfo@example.com, ceo@example.com');
    expect(headers.from).toBe('canary <canary@rollouts.example.com>');
    expect(headers.subject).toBe('Trigger fired: rollout:checkout-v2:prod');
    expect(headers['x-canary-rollout']).toBe('rollout:checkout-v2:prod');
    expect(headers['x-canary-event']).toBe('trigger-fired');
    expect(headers['message-id']).toMatch(/^<[0-9a-f]{32}@rollouts\.example\.com>$/);
    expect(text).toContain(SAMPLE.message);
    expect(text).toContain('Severity: critical');
    expect(text).toContain('error-rate: 2.4% > 1% (fail)');
    expect(text).toContain('Resume:\n    canary resume rollout:checkout-v2:prod');
    expect(text).toContain('Rollout: rollout:checkout-v2:prod\nEvent: trigger-fired');
  });

  it('reads SMTP_URL when the channel names no variable, and sends from canary@<this host> without a from', async () => {
    const server = await sink();
    const channel = ChannelConfig.parse({ type: 'email', to: ['ops@example.com'] });
    await createNotifier('ops-mail', channel, { SMTP_URL: server.url }, { emailClientName: 'worker-7.example.net' }).send(SAMPLE);
    expect(server.received.map((m) => [m.from, m.to])).toEqual([['canary@worker-7.example.net', ['ops@example.com']]]);
    expect(server.commands[0]).toBe('EHLO worker-7.example.net');
  });

  it('keeps lines that start with a dot, and encodes a title that is not ASCII', async () => {
    const server = await sink();
    const notification: Notification = { ...SAMPLE, title: 'Rollback → stable: Größe', message: '.hidden line\n..two dots\n.' };
    await new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: server.url } }).send(notification);
    const { headers, text } = parseMail(server.received[0]?.data ?? '');
    expect(decodeHeader(headers.subject ?? '')).toBe('Rollback → stable: Größe');
    expect(text).toContain('\n.hidden line\n..two dots\n.\n');
  });

  it('gives every attempt at one notification the same Message-ID, so a retried delivery is recognisably the same', () => {
    const envelope = { from: 'c@example.com', to: ['a@example.com'], sentAt: 0 };
    const id = (n: Notification) => /Message-ID: (.*)\r\n/.exec(emailMessage(n, envelope))?.[1];
    expect(id({ ...SAMPLE, idempotencyKey: 'k1' })).toBe(id({ ...SAMPLE, idempotencyKey: 'k1' }));
    expect(id({ ...SAMPLE, idempotencyKey: 'k1' })).not.toBe(id({ ...SAMPLE, idempotencyKey: 'k2' }));
  });

  it('cannot add a header through the text it sends', () => {
    const message = emailMessage({ ...SAMPLE, title: 'hi\r\nBcc: everyone@example.com' }, { from: 'c@example.com', to: ['a@example.com'], sentAt: 0 });
    expect(message).not.toMatch(/^Bcc:/m);
    expect(message).toMatch(/^Subject: hi Bcc: everyone@example.com\r$/m);
  });

  it.each(['PLAIN', 'LOGIN'])('logs in with AUTH %s when the URL carries credentials', async (mechanism) => {
    const server = await sink({ auth: { user: 'canary', password: PASSWORD }, authMechanisms: [mechanism] });
    const url = server.url.replace('smtp://', `smtp://canary:${encodeURIComponent(PASSWORD)}@`);
    await new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url } }).send(SAMPLE);
    expect(server.received.map((m) => m.user)).toEqual(['canary']);
  });

  it('upgrades with STARTTLS when the server offers it, and logs in only over TLS', async () => {
    const server = await sink({ starttls: certificate, auth: { user: 'canary', password: PASSWORD } });
    const url = server.url.replace('smtp://', `smtp://canary:${PASSWORD}@`);
    await new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url }, tls: { ca: certificate.cert } }).send(SAMPLE);
    expect(server.received.map((m) => [m.tls, m.user])).toEqual([[true, 'canary']]);
    expect(server.commands.indexOf('STARTTLS')).toBeLessThan(server.commands.findIndex((c) => c.startsWith('AUTH')));
  });

  it('speaks TLS from the start with smtps://', async () => {
    const server = await sink({ implicitTls: certificate });
    await new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: server.url }, tls: { ca: certificate.cert } }).send(SAMPLE);
    expect(server.received.map((m) => m.tls)).toEqual([true]);
  });

  it('refuses a server whose certificate it cannot verify, for good', async () => {
    const server = await sink({ starttls: certificate });
    const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: server.url } }).send(SAMPLE));
    expect(err.message).toMatch(/^email channel "m": the mail server in SMTP_URL: STARTTLS failed: .*certificate/);
    expect(err.retryable).toBe(false);
    expect(server.received).toEqual([]);
  });

  it('fails for good on a wrong password, and never repeats the password or the URL', async () => {
    const server = await sink({ auth: { user: 'canary', password: 'the-right-one' } });
    const url = server.url.replace('smtp://', `smtp://canary:${PASSWORD}@`);
    const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url } }).send(SAMPLE));
    expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: AUTH PLAIN: the server answered 535 5.7.8 authentication credentials invalid');
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain(PASSWORD);
  });

  it('removes the password from whatever the server says', async () => {
    const server = await sink({ auth: { user: 'canary', password: PASSWORD } });
    server.refuse('MAIL', `550 5.7.1 sender canary:${PASSWORD} not allowed`);
    const url = `smtp://canary:${PASSWORD}@127.0.0.1:${server.port}`;
    const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url } }).send(SAMPLE));
    expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: MAIL FROM: the server answered 550 5.7.1 sender canary:[redacted] not allowed');
    expect(err.retryable).toBe(false);
  });

  it('retries what the server refuses for now (4yz) and gives up on what it refuses for good (5yz)', async () => {
    const server = await sink();
    const notifier = new EmailNotifier({ name: 'm', to: ['busy@example.com'], env: { SMTP_URL: server.url } });
    server.refuse('RCPT', '451 4.3.0 mailbox busy, try later');
    const later = await failureOf(notifier.send(SAMPLE));
    expect(later.message).toBe('email channel "m": the mail server in SMTP_URL: RCPT TO busy@example.com: the server answered 451 4.3.0 mailbox busy, try later');
    expect(later.retryable).toBe(true);
    server.refuse('.', '554 5.6.0 message refused');
    const never = await failureOf(notifier.send(SAMPLE));
    expect(never.message).toBe('email channel "m": the mail server in SMTP_URL: the message: the server answered 554 5.6.0 message refused');
    expect(never.retryable).toBe(false);
    expect(server.received).toEqual([]);
  });

  it('retries when the server cannot be reached or does not answer in time', async () => {
    const closed = await sink();
    await closed.close();
    const unreachable = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: closed.url } }).send(SAMPLE));
    expect(unreachable.message).toBe('email channel "m": the mail server in SMTP_URL: could not reach the server or lost it (ECONNREFUSED)');
    expect(unreachable.retryable).toBe(true);

    const silent = await sink();
    silent.silent = true;
    const slow = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: silent.url }, timeoutMs: 300 }).send(SAMPLE));
    expect(slow.message).toBe('email channel "m": the mail server in SMTP_URL: no answer from the server within 300 ms');
    expect(slow.retryable).toBe(true);
  });

  it('fails for good, naming the variable, when it is unset or holds no SMTP URL', async () => {
    const unset = await failureOf(new EmailNotifier({ name: 'exec', to: ['a@example.com'], smtpUrlEnv: 'EXEC_SMTP', env: {} }).send(SAMPLE));
    expect(unset.message).toBe(
      "email channel \"exec\": environment variable EXEC_SMTP is not set; set it to the mail server's URL (smtp://user:password@host:587 or smtps://…) in the worker's environment",
    );
    expect(unset.retryable).toBe(false);
    const wrong = await failureOf(new EmailNotifier({ name: 'exec', to: ['a@example.com'], smtpUrlEnv: 'EXEC_SMTP', env: { EXEC_SMTP: `https://u:${PASSWORD}@mail.example.com` } }).send(SAMPLE));
    expect(wrong.message).toBe('email channel "exec": EXEC_SMTP does not hold an SMTP URL; set it to smtp://user:password@host:587 or smtps://user:password@host:465');
    expect(wrong.retryable).toBe(false);
    const sender = await failureOf(new EmailNotifier({ name: 'exec', to: ['a@example.com'], smtpUrlEnv: 'EXEC_SMTP', env: { EXEC_SMTP: 'smtp://127.0.0.1:25?from=<me>' } }).send(SAMPLE));
    expect(sender.message).toBe('email channel "exec": the from parameter of the URL in EXEC_SMTP is not an e-mail address');
  });
});

describe('the email channel against a hostile server or network', () => {
  it(
    'gives up within its timeout when the TLS handshake of smtps:// is never answered, and drops the connection',
    async () => {
      const server = await sink();
      server.silent = true;
      const url = server.url.replace('smtp://', 'smtps://');
      const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url }, timeoutMs: 300 }).send(SAMPLE));
      expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: no answer from the server within 300 ms');
      expect(err.retryable).toBe(true);
      await until(() => server.open === 0);
    },
    SETTLES_WITHIN_MS,
  );

  it(
    'gives up within its timeout when the server answers 220 to STARTTLS and then never starts TLS',
    async () => {
      const server = await sink({ starttls: certificate, stallStarttls: true });
      const notifier = new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: server.url }, tls: { ca: certificate.cert }, timeoutMs: 300 });
      const err = await failureOf(notifier.send(SAMPLE));
      expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: no answer from the server within 300 ms');
      expect(err.retryable).toBe(true);
      expect(server.commands).toContain('STARTTLS');
      await until(() => server.open === 0);
    },
    SETTLES_WITHIN_MS,
  );

  it(
    'stops and drops the connection when the caller cancels (the activity\'s cancellation signal)',
    async () => {
      const server = await sink();
      server.silent = true;
      const cancel = new AbortController();
      // A timeout the test never reaches: only the signal can end this send in time.
      const sending = new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: server.url }, timeoutMs: 600_000 }).send(SAMPLE, { signal: cancel.signal });
      await until(() => server.connections === 1);
      cancel.abort();
      const err = await failureOf(sending);
      expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: sending was cancelled');
      await until(() => server.open === 0);
    },
    SETTLES_WITHIN_MS,
  );

  it('does not connect at all when it is cancelled before it starts', async () => {
    const server = await sink();
    const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: server.url } }).send(SAMPLE, { signal: AbortSignal.abort() }));
    expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: sending was cancelled');
    expect(server.connections).toBe(0);
  });

  it.each([
    ['replies', '250-fake\r\n250 AUTH PLAIN\r\n235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n'],
    ['part of a line', '250-fa'],
  ])('refuses %s sent in the clear after the 220 to STARTTLS (a man in the middle), and sends nothing more', async (_, injected) => {
    const server = await sink({ starttls: certificate, auth: { user: 'canary', password: PASSWORD }, afterStarttls: injected });
    // Were the injected replies believed, this refusal would go unseen and the send would report success.
    server.refuse('.', '554 5.6.0 message refused');
    const url = server.url.replace('smtp://', `smtp://canary:${PASSWORD}@`);
    const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url }, tls: { ca: certificate.cert } }).send(SAMPLE));
    expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: STARTTLS: the server sent more after its 220 in the clear; not trusting the connection');
    expect(err.retryable).toBe(false);
    expect(server.commands.slice(server.commands.indexOf('STARTTLS'))).toEqual(['STARTTLS']);
    expect(server.received).toEqual([]);
  });

  it.each(['line', 'multiline'] as const)(
    'stops reading a %s reply that never ends at 64 KiB, and drops the connection',
    async (flood) => {
      const server = await sink({ flood });
      // The timeout is a bound the test never reaches: 64 KiB arrive from 127.0.0.1 in milliseconds.
      const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: server.url }, timeoutMs: 3_000 }).send(SAMPLE));
      expect(err.message).toBe('email channel "m": the mail server in SMTP_URL: the server sent a reply longer than 64 KiB');
      expect(err.retryable).toBe(false);
      await until(() => server.open === 0);
    },
    SETTLES_WITHIN_MS,
  );

  it('sends credentials in the clear only to a loopback address or localhost, not to a name that starts with "127."', async () => {
    const server = await sink({ auth: { user: 'canary', password: PASSWORD } });
    // 127.evil.example resolves to the sink (any name may resolve to 127.0.0.1; what matters is the name in the URL).
    const lookup = jest.spyOn(dns, 'lookup').mockImplementation(((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
      options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)) as unknown as typeof dns.lookup);
    try {
      const url = `smtp://canary:${PASSWORD}@127.evil.example:${server.port}`;
      const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url } }).send(SAMPLE));
      expect(err.message).toMatch(/the server offers no TLS \(STARTTLS\): the credentials are not sent in the clear/);
      expect(err.retryable).toBe(false);
      expect(lookup).toHaveBeenCalled();
    } finally {
      lookup.mockRestore();
    }
    expect(server.commands.filter((c) => c.startsWith('AUTH'))).toEqual([]);
    expect(server.received).toEqual([]);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['127.evil.example', false],
    ['127.0.0.1.nip.io', false],
    ['localhost.evil.example', false],
    ['10.0.0.1', false],
    ['::2', false],
    ['mail.example.com', false],
  ])('counts %s as loopback: %s', (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });

  it.each(['PLAIN', 'LOGIN'])('removes the base64 credentials of AUTH %s from a reply that repeats them', async (mechanism) => {
    const server = await sink({ auth: { user: 'canary', password: PASSWORD }, authMechanisms: [mechanism], echoAuth: true });
    const url = `smtp://canary:${PASSWORD}@127.0.0.1:${server.port}`;
    const err = await failureOf(new EmailNotifier({ name: 'm', to: ['a@example.com'], env: { SMTP_URL: url } }).send(SAMPLE));
    expect(err.message).toBe(`email channel "m": the mail server in SMTP_URL: AUTH ${mechanism}: the server answered 535 5.7.8 credentials [redacted] invalid`);
    expect(err.retryable).toBe(false);
  });
});
