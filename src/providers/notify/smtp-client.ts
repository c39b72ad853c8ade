/**
 * A minimal SMTP client (RFC 5321) over node:net and node:tls: enough to hand one message to a mail server. Node has
 * no SMTP client of its own, and the email channel needs no more than this: greeting, EHLO, STARTTLS when the server
 * offers it (or TLS from the start with `smtps://`), AUTH PLAIN or LOGIN when the URL carries credentials, MAIL, RCPT,
 * DATA with dot-stuffing, QUIT.
 *
 * The server's URL holds the password, so nothing here puts the URL, the user or the password into an error; errors
 * name the step and the server's reply code and text.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/** Where and how to send: the server, from the URL, and the envelope. */
export interface SmtpSendRequest {
  /**
   * `smtp://[user[:password]@]host[:port]` (port 587 by default; upgraded with STARTTLS when the server offers it) or
   * `smtps://…` (TLS from the start, port 465 by default). User and password are percent-encoded.
   */
  url: string;
  /** The envelope sender (MAIL FROM). */
  from: string;
  /** The envelope recipients (RCPT TO), at least one. */
  to: readonly string[];
  /** The message as sent after DATA: header lines, an empty line, the body; lines end in CRLF. Dot-stuffed here. */
  message: string;
  /** The name announced in EHLO (this host's name). */
  clientName: string;
  /** The whole exchange, connecting included, must end within this time. */
  timeoutMs: number;
  /** More TLS settings, e.g. the CA of a private mail server. */
  tls?: ConnectionOptions;
}

/** Why a message was not handed over; `transient` when trying again later may succeed (RFC 5321 4yz replies, no answer). */
export class SmtpFailure extends Error {
  override name = 'SmtpFailure';

  constructor(
    message: string,
    readonly transient: boolean,
    /** The server's reply code, when it answered. */
    readonly code?: number,
  ) {
    super(message);
  }
}

/** One reply: its code and its text lines (without the code). */
interface Reply {
  code: number;
  lines: string[];
}

/** The parts of an SMTP URL; the password stays inside this module. */
interface SmtpServer {
  host: string;
  port: number;
  implicitTls: boolean;
  user?: string;
  password?: string;
}

/** Reads an SMTP URL; a URL that is not one is a permanent failure that does not repeat the URL. */
export function parseSmtpUrl(url: string): SmtpServer {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') || !parsed.hostname) {
    throw new SmtpFailure('expected an smtp:// or smtps:// URL with a host', false);
  }
  const implicitTls = parsed.protocol === 'smtps:';
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : implicitTls ? 465 : 587,
    implicitTls,
    ...(parsed.username ? { user: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}

/**
 * Hands one message to the server of `request.url`. Resolves once the server has accepted it (250 after the data);
 * rejects with an {@link SmtpFailure}. Credentials are sent only over TLS, except to a server on this machine.
 */
export async function sendMail(request: SmtpSendRequest): Promise<void> {
  const server = parseSmtpUrl(request.url);
  if (request.to.length === 0) throw new SmtpFailure('no recipients', false);
  const session = await SmtpSession.open(server, request);
  try {
    await session.exchange(server, request);
  } finally {
    session.close();
  }
}

/** One connection to a server: reads replies line by line, across a STARTTLS upgrade. */
class SmtpSession {
  private buffer = '';
  private readonly replies: Reply[] = [];
  private pendingLines: string[] = [];
  private waiting?: { resolve: (reply: Reply) => void; reject: (err: Error) => void };
  private failure?: Error;
  private readonly deadline: NodeJS.Timeout;
  private secure: boolean;

  private constructor(
    private socket: Socket,
    secure: boolean,
    timeoutMs: number,
  ) {
    this.secure = secure;
    this.deadline = setTimeout(() => this.fail(new SmtpFailure(`no answer from the server within ${timeoutMs} ms`, true)), timeoutMs);
    this.listen(socket);
  }

  static open(server: SmtpServer, request: SmtpSendRequest): Promise<SmtpSession> {
    return new Promise((resolve, reject) => {
      const options = { host: server.host, port: server.port };
      const socket = server.implicitTls
        ? tlsConnect({ ...options, servername: isIP(server.host) ? undefined : server.host, ...request.tls })
        : netConnect(options);
      const session = new SmtpSession(socket, server.implicitTls, request.timeoutMs);
      const ready = server.implicitTls ? 'secureConnect' : 'connect';
      socket.once(ready, () => resolve(session));
      socket.once('error', (err) => {
        session.close();
        reject(connectFailure(err));
      });
    });
  }

  /** The whole conversation after connecting. */
  async exchange(server: SmtpServer, request: SmtpSendRequest): Promise<void> {
    await this.expect('the greeting', [220]);
    let capabilities = await this.hello(request.clientName);
    if (!this.secure && capabilities.has('STARTTLS')) {
      await this.command('STARTTLS', 'STARTTLS', [220]);
      await this.upgrade(server, request.tls);
      capabilities = await this.hello(request.clientName);
    }
    if (server.user !== undefined) await this.authenticate(server, capabilities);
    await this.command(`MAIL FROM:<${request.from}>`, 'MAIL FROM', [250]);
    for (const to of request.to) await this.command(`RCPT TO:<${to}>`, `RCPT TO ${to}`, [250, 251]);
    await this.command('DATA', 'DATA', [354]);
    this.write(`${dotStuff(request.message)}\r\n.\r\n`);
    await this.expect('the message', [250]);
    // The message is accepted: QUIT is a courtesy, and a server that does not answer it changes nothing.
    this.write('QUIT\r\n');
  }

  /** Ends the connection; one the server does not close is dropped a second later. */
  close(): void {
    clearTimeout(this.deadline);
    const socket = this.socket;
    socket.removeAllListeners('data');
    socket.on('error', () => undefined);
    socket.end();
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  /** EHLO, or HELO for a server that does not know EHLO; the capabilities the server lists (keywords upper-case). */
  private async hello(clientName: string): Promise<Map<string, string[]>> {
    this.write(`EHLO ${clientName}\r\n`);
    const reply = await this.next();
    if (reply.code !== 250) {
      await this.command(`HELO ${clientName}`, 'HELO', [250]);
      return new Map();
    }
    const capabilities = new Map<string, string[]>();
    for (const line of reply.lines.slice(1)) {
      const [keyword = '', ...params] = line.trim().split(/\s+/);
      capabilities.set(keyword.toUpperCase(), params.map((p) => p.toUpperCase()));
    }
    return capabilities;
  }

  private async authenticate(server: SmtpServer, capabilities: Map<string, string[]>): Promise<void> {
    if (!this.secure && !isLoopback(server.host)) {
      throw new SmtpFailure('the server offers no TLS (STARTTLS): the credentials are not sent in the clear; use smtps:// or a server with STARTTLS', false);
    }
    const mechanisms = capabilities.get('AUTH') ?? [];
    const user = server.user ?? '';
    const password = server.password ?? '';
    if (mechanisms.includes('PLAIN')) {
      this.write(`AUTH PLAIN ${Buffer.from(`\u0000${user}\u0000${password}`, 'utf8').toString('base64')}\r\n`);
      await this.expect('AUTH PLAIN', [235]);
    } else if (mechanisms.includes('LOGIN')) {
      await this.command('AUTH LOGIN', 'AUTH LOGIN', [334]);
      this.write(`${Buffer.from(user, 'utf8').toString('base64')}\r\n`);
      await this.expect('AUTH LOGIN', [334]);
      this.write(`${Buffer.from(password, 'utf8').toString('base64')}\r\n`);
      await this.expect('AUTH LOGIN', [235]);
    } else {
      throw new SmtpFailure(`the URL has credentials but the server offers neither AUTH PLAIN nor AUTH LOGIN (offers: ${mechanisms.join(' ') || 'none'})`, false);
    }
  }

  /** Continues the conversation over TLS on the same connection (after 220 to STARTTLS). */
  private upgrade(server: SmtpServer, tls: ConnectionOptions | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.removeAllListeners('data');
      // `host` is what the certificate is checked against; SNI (`servername`) carries names only, never addresses.
      const secured = tlsConnect({ socket: this.socket, host: server.host, servername: isIP(server.host) ? undefined : server.host, ...tls });
      secured.once('secureConnect', () => {
        this.secure = true;
        resolve();
      });
      secured.once('error', (err) => reject(new SmtpFailure(`STARTTLS failed: ${err.message}`, false)));
      this.socket = secured;
      this.listen(secured);
    });
  }

  private listen(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', (err) => this.fail(connectFailure(err)));
    socket.on('close', () => this.fail(new SmtpFailure('the server closed the connection', true)));
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let end = this.buffer.indexOf('\n'); end !== -1; end = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, end).replace(/\r$/, '');
      this.buffer = this.buffer.slice(end + 1);
      const match = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!match) {
        this.fail(new SmtpFailure(`the server answered something that is not SMTP: ${JSON.stringify(line.slice(0, 80))}`, false));
        return;
      }
      this.pendingLines.push(match[3] ?? '');
      if (match[2] === '-') continue;
      const reply = { code: Number(match[1]), lines: this.pendingLines };
      this.pendingLines = [];
      if (this.waiting) {
        const { resolve } = this.waiting;
        this.waiting = undefined;
        resolve(reply);
      } else {
        this.replies.push(reply);
      }
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    if (this.waiting) {
      const { reject } = this.waiting;
      this.waiting = undefined;
      reject(this.failure);
    }
  }

  private next(): Promise<Reply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  private write(text: string): void {
    this.socket.write(text);
  }

  private async command(line: string, step: string, codes: number[]): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.expect(step, codes);
  }

  /** The next reply, which must have one of `codes`; otherwise a failure naming `step` (4yz transient, others not). */
  private async expect(step: string, codes: number[]): Promise<Reply> {
    const reply = await this.next();
    if (codes.includes(reply.code)) return reply;
    const text = reply.lines.join(' ').trim().slice(0, 300);
    throw new SmtpFailure(`${step}: the server answered ${reply.code}${text ? ` ${text}` : ''}`, reply.code >= 400 && reply.code < 500, reply.code);
  }
}

/** A connection error in words: the system's code (ECONNREFUSED, ENOTFOUND …), never a message naming the host. */
function connectFailure(err: Error): SmtpFailure {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new SmtpFailure(`could not reach the server or lost it (${code})`, true);
  // A TLS failure (an unknown certificate authority, a name the certificate does not cover) is not fixed by retrying.
  return new SmtpFailure(`the connection failed: ${err.message}`, false);
}

/** A line of the message that starts with "." gets a second one (RFC 5321 §4.5.2); every line ends in CRLF. */
export function dotStuff(message: string): string {
  return message
    .replace(/\r?\n/g, '\r\n')
    .split('\r\n')
    .map((line) => (line.startsWith('.') ? `.${line}` : line))
    .join('\r\n');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
