/**
 * A tiny SMTP server for tests (node:net, 127.0.0.1, a free port): greets, answers EHLO with its capabilities, can
 * offer STARTTLS or speak TLS from the start, checks AUTH PLAIN / LOGIN against one user, and records every message it
 * accepts with its envelope. It can be told to refuse a step with a given reply, or to never greet; and to misbehave
 * the ways a hostile server or a man in the middle would: stall after its 220 to STARTTLS, append replies to that 220,
 * flood the client, or repeat the client's AUTH payload in its refusal.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket } from 'node:tls';

/** A message the sink accepted. */
export interface ReceivedMail {
  from: string;
  to: string[];
  /** The data as the client sent it, dot-stuffing removed, lines joined with CRLF. */
  data: string;
  /** The user that authenticated, if any. */
  user?: string;
  /** Whether the message came over TLS. */
  tls: boolean;
}

export interface SmtpSinkOptions {
  /** Require AUTH (PLAIN or LOGIN) with these credentials before MAIL. */
  auth?: { user: string; password: string };
  /** Which AUTH mechanisms to offer; default PLAIN and LOGIN. */
  authMechanisms?: string[];
  /** Offer STARTTLS with this key and certificate. */
  starttls?: { key: string; cert: string };
  /** Speak TLS from the start (smtps) with this key and certificate. */
  implicitTls?: { key: string; cert: string };
  /** Answer 220 to STARTTLS, then neither start TLS nor say anything more. */
  stallStarttls?: boolean;
  /** Text sent right after the 220 to STARTTLS, in the same write, before TLS starts (what a man in the middle adds). */
  afterStarttls?: string;
  /**
   * Send without end: `line` a greeting line that never ends, `multiline` a multi-line greeting ("220-…") that never
   * ends.
   */
  flood?: 'line' | 'multiline';
  /** Refuse every AUTH with 535 and the payload the client sent (its base64 credentials) in the reply's text. */
  echoAuth?: boolean;
}

export interface SmtpSink {
  /** `smtp://127.0.0.1:<port>` (or `smtps://…`), without credentials. */
  url: string;
  port: number;
  received: ReceivedMail[];
  /** Every command line received, in order (AUTH lines included). */
  commands: string[];
  /** Answer the first command starting with `verb` (MAIL, RCPT, DATA, or "." for the end of the data) with `reply`. */
  refuse(verb: string, reply: string): void;
  /** Accept connections but never greet. */
  silent: boolean;
  /** Connections accepted so far, and those still open. */
  connections: number;
  open: number;
  close(): Promise<void>;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const refusals = new Map<string, string>();
  const sockets = new Set<Socket>();
  const sink = { received: [] as ReceivedMail[], commands: [] as string[], silent: false, connections: 0, open: 0 } as SmtpSink;
  sink.refuse = (verb, reply) => refusals.set(verb.toUpperCase(), reply);
  const mechanisms = options.authMechanisms ?? ['PLAIN', 'LOGIN'];

  const converse = (raw: Socket) => {
    sockets.add(raw);
    sink.connections += 1;
    sink.open += 1;
    raw.on('close', () => {
      sockets.delete(raw);
      sink.open -= 1;
    });
    raw.on('error', () => undefined);
    // Read and drop what comes: a stream ends (and closes) only once what it received has been read.
    if (sink.silent) return void raw.resume();
    if (options.flood) return flood(raw, options.flood);
    let socket: Socket = raw;
    let secure = Boolean(options.implicitTls);
    let buffer = '';
    let user: string | undefined;
    let mail: { from: string; to: string[] } | undefined;
    let data: string[] | undefined;
    let login: 'user' | 'password' | undefined;
    let loginUser = '';
    const say = (line: string) => socket.write(`${line}\r\n`);
    const refused = (verb: string) => {
      const reply = refusals.get(verb);
      if (reply) {
        refusals.delete(verb);
        say(reply);
      }
      return Boolean(reply);
    };
    const checkLogin = (name: string, password: string, payload: string) => {
      if (options.echoAuth) {
        say(`535 5.7.8 credentials ${payload} invalid`);
      } else if (options.auth && name === options.auth.user && password === options.auth.password) {
        user = name;
        say('235 2.7.0 authenticated');
      } else {
        say('535 5.7.8 authentication credentials invalid');
      }
    };
    const onLine = (line: string) => {
      if (data) {
        if (line !== '.') {
          data.push(line.startsWith('.') ? line.slice(1) : line);
          return;
        }
        const text = data.join('\r\n');
        data = undefined;
        if (refused('.')) return;
        sink.received.push({ from: mail?.from ?? '', to: mail?.to ?? [], data: text, ...(user ? { user } : {}), tls: secure });
        mail = undefined;
        say('250 2.0.0 queued');
        return;
      }
      sink.commands.push(line);
      if (login) {
        const text = Buffer.from(line, 'base64').toString('utf8');
        if (login === 'user') {
          loginUser = text;
          login = 'password';
          say(`334 ${Buffer.from('Password:').toString('base64')}`);
        } else {
          login = undefined;
          checkLogin(loginUser, text, line);
        }
        return;
      }
      const [verb = '', ...rest] = line.split(' ');
      const upper = verb.toUpperCase();
      if (refused(upper)) return;
      switch (upper) {
        case 'EHLO': {
          const caps = ['250-sink greets you', '250-SIZE 1000000', '250-8BITMIME'];
          if (options.starttls && !secure) caps.push('250-STARTTLS');
          if (options.auth) caps.push(`250-AUTH ${mechanisms.join(' ')}`);
          caps.push('250 HELP');
          caps.forEach(say);
          return;
        }
        case 'HELO':
          return say('250 sink');
        case 'STARTTLS': {
          if (!options.starttls || secure) return say('503 5.5.1 not now');
          socket.write(`220 2.0.0 ready to start TLS\r\n${options.afterStarttls ?? ''}`);
          raw.removeAllListeners('data');
          if (options.stallStarttls) return;
          const tls = new TLSSocket(raw, { isServer: true, key: options.starttls.key, cert: options.starttls.cert });
          tls.on('error', () => undefined);
          socket = tls;
          secure = true;
          user = undefined;
          listen(tls);
          return;
        }
        case 'AUTH': {
          const mechanism = (rest[0] ?? '').toUpperCase();
          if (mechanism === 'PLAIN' && mechanisms.includes('PLAIN')) {
            const [, name = '', password = ''] = Buffer.from(rest[1] ?? '', 'base64').toString('utf8').split('\u0000');
            return checkLogin(name, password, rest[1] ?? '');
          }
          if (mechanism === 'LOGIN' && mechanisms.includes('LOGIN')) {
            login = 'user';
            return say(`334 ${Buffer.from('Username:').toString('base64')}`);
          }
          return say('504 5.5.4 mechanism not supported');
        }
        case 'MAIL':
          if (options.auth && !user) return say('530 5.7.0 authentication required');
          mail = { from: /<(.*)>/.exec(line)?.[1] ?? '', to: [] };
          return say('250 2.1.0 ok');
        case 'RCPT':
          if (!mail) return say('503 5.5.1 need MAIL first');
          mail.to.push(/<(.*)>/.exec(line)?.[1] ?? '');
          return say('250 2.1.5 ok');
        case 'DATA':
          if (!mail || mail.to.length === 0) return say('503 5.5.1 need RCPT first');
          data = [];
          return say('354 end data with <CR><LF>.<CR><LF>');
        case 'QUIT':
          say('221 2.0.0 bye');
          socket.end();
          return;
        default:
          return say('502 5.5.2 unknown command');
      }
    };
    const listen = (s: Socket) => {
      s.setEncoding('utf8');
      s.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          onLine(line);
        }
      });
    };
    listen(socket);
    say('220 sink ESMTP ready');
  };

  /** Writes as fast as the client reads, until the connection ends. */
  const flood = (socket: Socket, kind: NonNullable<SmtpSinkOptions['flood']>) => {
    const chunk = kind === 'line' ? 'x'.repeat(16_384) : `220-${'x'.repeat(1_000)}\r\n`.repeat(16);
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk));
      if (!socket.destroyed) socket.once('drain', pump);
    };
    socket.write('220-');
    pump();
  };

  const server: Server = options.implicitTls
    ? createTlsServer({ key: options.implicitTls.key, cert: options.implicitTls.cert }, converse)
    : createServer(converse);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.port = (server.address() as AddressInfo).port;
  sink.url = `${options.implicitTls ? 'smtps' : 'smtp'}://127.0.0.1:${sink.port}`;
  sink.close = () =>
    new Promise<void>((resolve) => {
      sockets.forEach((s) => s.destroy());
      server.close(() => resolve());
    });
  return sink;
}

/** A message's headers (names lower-case; folded lines joined) and its body decoded from base64. */
export function parseMail(data: string): { headers: Record<string, string>; text: string } {
  const [head = '', ...rest] = data.split('\r\n\r\n');
  const headers: Record<string, string> = {};
  let last = '';
  for (const line of head.split('\r\n')) {
    if (/^\s/.test(line) && last) {
      headers[last] += line.trim();
      continue;
    }
    const at = line.indexOf(':');
    last = line.slice(0, at).toLowerCase();
    headers[last] = line.slice(at + 1).trim();
  }
  const body = rest.join('\r\n\r\n');
  const text = headers['content-transfer-encoding'] === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8') : body;
  return { headers, text };
}

/** An RFC 2047 header value decoded (UTF-8, base64 words only: what the email channel writes). */
export function decodeHeader(value: string): string {
  return value.replace(/=\?UTF-8\?B\?([^?]*)\?=\s*/gi, (_, b64: string) => Buffer.from(b64, 'base64').toString('utf8'));
}
