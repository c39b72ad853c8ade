import fc from 'fast-check';
import { boundedText, MIN_SECRET_LENGTH, redactSecrets } from '../../../src/providers/secrets/redact';

describe('redactSecrets', () => {
  const env = {
    GITHUB_TOKEN: 'ghp_0123456789abcdef',
    DB_PASSWORD: 'hunter2-but-longer',
    STRIPE_API_KEY: 'sk_live_51Habc',
    HOME: '/home/canary',
    LOG_LEVEL: 'info-verbose',
  };

  it('replaces the value of each secret-looking variable with its name, wherever and however often it occurs', () => {
    const output = 'cloning with ghp_0123456789abcdef\nlogin db hunter2-but-longer; retry with ghp_0123456789abcdef';
    expect(redactSecrets(output, env)).toBe('cloning with [redacted:GITHUB_TOKEN]\nlogin db [redacted:DB_PASSWORD]; retry with [redacted:GITHUB_TOKEN]');
  });

  it('leaves the values of variables whose names do not look secret', () => {
    expect(redactSecrets('HOME is /home/canary, logging at info-verbose', env)).toBe('HOME is /home/canary, logging at info-verbose');
  });

  it.each([
    'CLIENT_SECRET',
    'SLACK_TOKEN',
    'PGPASSWORD',
    'FTP_PASSWD',
    'OPENAI_API_KEY',
    'DD_APIKEY',
    'SSH_PRIVATE_KEY',
    'GOOGLE_APPLICATION_CREDENTIALS',
    'BASIC_AUTH',
    'SENTRY_DSN',
    'DEPLOY_WEBHOOK_URL',
    'my_lowercase_token',
  ])('treats %s as a secret', (name) => {
    expect(redactSecrets('value: s3cr3t-value!', { [name]: 's3cr3t-value!' })).toBe(`value: [redacted:${name}]`);
  });

  it('treats a URL with a password as a secret whatever its variable is called (an email channel\'s SMTP URL)', () => {
    const mail = { EXEC_MAIL: 'smtp://canary:pa55word@mail.example.com:587', STATUS_URL: 'https://status.example.com/api' };
    expect(redactSecrets('env: EXEC_MAIL=smtp://canary:pa55word@mail.example.com:587 STATUS_URL=https://status.example.com/api', mail)).toBe(
      'env: EXEC_MAIL=[redacted:EXEC_MAIL] STATUS_URL=https://status.example.com/api',
    );
  });

  it(`leaves values shorter than ${MIN_SECRET_LENGTH} characters, which would hide ordinary words`, () => {
    expect(redactSecrets('status: ok, 12345 rows', { API_TOKEN: '12345', AUTH_MODE: 'ok' })).toBe('status: ok, 12345 rows');
    expect(redactSecrets('pin 123456', { API_TOKEN: '123456' })).toBe('pin [redacted:API_TOKEN]');
  });

  it('hides a value that contains another as the longer one, and a shorter value on its own elsewhere', () => {
    const secrets = { SHORT_TOKEN: 'abcdef', LONG_TOKEN: 'abcdef-and-more' };
    expect(redactSecrets('abcdef-and-more then abcdef', secrets)).toBe('[redacted:LONG_TOKEN] then [redacted:SHORT_TOKEN]');
  });

  it('hides overlapping secrets as one, so that no character of either survives', () => {
    const secrets = { A_TOKEN: 'xx123456', B_TOKEN: '3456yyyyy' };
    expect(redactSecrets('<xx123456yyyyy>', secrets)).toBe('<[redacted:B_TOKEN]>');
  });

  it('hides a run of a repeated value whole', () => {
    expect(redactSecrets('[aaaaaaaa]', { PAD_SECRET: 'aaaaaa' })).toBe('[[redacted:PAD_SECRET]]');
  });

  it('does not garble its own markers when a secret value appears in one', () => {
    const secrets = { GITHUB_TOKEN: 'ghp_0123456789abcdef', WEIRD_SECRET: 'GITHUB' };
    expect(redactSecrets('ghp_0123456789abcdef', secrets)).toBe('[redacted:GITHUB_TOKEN]');
  });

  it('names the alphabetically first variable when two hold the same value', () => {
    expect(redactSecrets('x shared-secret x', { Z_TOKEN: 'shared-secret', A_TOKEN: 'shared-secret' })).toBe('x [redacted:A_TOKEN] x');
  });

  it('hides a value read with a trailing newline where it is printed without one', () => {
    expect(redactSecrets('Authorization: Bearer tok-998877', { BEARER_TOKEN: 'tok-998877\n' })).toBe('Authorization: Bearer [redacted:BEARER_TOKEN]');
  });

  it('hides a value with quotes or newlines inside JSON output, where it appears escaped', () => {
    const key = '-----BEGIN KEY-----\nabc"def\n-----END KEY-----';
    const json = JSON.stringify({ key, user: 'deploy' });
    expect(redactSecrets(json, { SIGNING_PRIVATE_KEY: key })).toBe('{"key":"[redacted:SIGNING_PRIVATE_KEY]","user":"deploy"}');
  });

  it('reads process.env when no environment is given', () => {
    const name = 'CANARY_REDACT_TEST_TOKEN';
    process.env[name] = 'from-the-process-env';
    try {
      expect(redactSecrets('got from-the-process-env')).toBe(`got [redacted:${name}]`);
    } finally {
      delete process.env[name];
    }
  });

  it('leaves no secret value in any text (property)', () => {
    // Printable ASCII, and a two-letter alphabet that makes values overlap and contain each other.
    const text = (length: { minLength?: number; maxLength: number }) => fc.oneof(fc.string(length), fc.string({ unit: fc.constantFrom('a', 'b'), ...length }));
    const secret = text({ minLength: MIN_SECRET_LENGTH, maxLength: 12 });
    fc.assert(
      fc.property(fc.array(secret, { minLength: 1, maxLength: 3 }), fc.array(text({ maxLength: 8 }), { maxLength: 4 }), (values, fillers) => {
        const secrets = Object.fromEntries(values.map((value, i) => [`S${i}_SECRET`, value]));
        const output = fillers.flatMap((filler, i) => [filler, values[i % values.length]!]).join('') + values.join('|');
        // The markers themselves (with the text around them) could spell a value made of their characters: set them apart.
        const left = redactSecrets(output, secrets).replace(/\[redacted:S\d_SECRET\]/g, '\u0000');
        for (const value of values) expect(left).not.toContain(value);
      }),
      { numRuns: 500 },
    );
  });
});

describe('boundedText', () => {
  it('returns a string that fits as it is, lines and all', () => {
    expect(boundedText('line 1\nline 2', 100)).toBe('line 1\nline 2');
    expect(boundedText('exactly10!', 10)).toBe('exactly10!');
  });

  it('cuts a longer text to at most max characters, saying how many were cut', () => {
    const text = 'x'.repeat(1000);
    const bounded = boundedText(text, 100);
    expect(bounded).toHaveLength(100);
    expect(bounded).toBe(`${'x'.repeat(78)}…(922 more characters)`);
  });

  it('fits the count when cutting changes the number of its digits', () => {
    // A one-digit count would keep 8 and cut 21, which has two digits; with two, 7 are kept and 22 cut.
    const bounded = boundedText('y'.repeat(29), 28);
    expect(bounded).toBe(`${'y'.repeat(7)}…(22 more characters)`);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 200 }), (length, max) => {
        const text = 'z'.repeat(length);
        const out = boundedText(text, max);
        expect(out.length).toBeLessThanOrEqual(max);
        if (length <= max) return expect(out).toBe(text);
        if (max === 0) return expect(out).toBe('');
        const match = /^(z*)…(?:\((\d+) more characters\))?$/.exec(out);
        expect(match).not.toBeNull();
        if (match?.[2] !== undefined) expect(match[1]!.length + Number(match[2])).toBe(length);
      }),
    );
  });

  it('ends in a bare … when max is too small to say how much was cut', () => {
    expect(boundedText('abcdefghijklmnopqrstuvwxyz', 10)).toBe('abcdefghi…');
    expect(boundedText('abc', 0)).toBe('');
  });

  it('never splits a surrogate pair', () => {
    // 100 characters keep 78 code units here, and the 78th is the first half of the emoji: it goes whole.
    const bounded = boundedText(`${'a'.repeat(77)}😀${'b'.repeat(100)}`, 100);
    expect(bounded).toBe(`${'a'.repeat(77)}…(102 more characters)`);
  });

  it('writes objects and arrays as JSON', () => {
    expect(boundedText({ exitCode: 1, output: 'failed' }, 100)).toBe('{"exitCode":1,"output":"failed"}');
    expect(boundedText([1, 'two', null], 100)).toBe('[1,"two",null]');
    expect(boundedText({ items: Array.from({ length: 50 }, (_, i) => i) }, 40)).toBe('{"items":[0,1,2,3,…(133 more characters)');
  });

  it('writes errors, maps, sets, bigints and dates readably, also inside objects', () => {
    expect(boundedText(new TypeError('bad input'), 100)).toBe('TypeError: bad input');
    expect(boundedText({ cause: new Error('down'), big: 10n ** 20n, at: new Date(0) }, 200)).toBe(
      '{"cause":"Error: down","big":"100000000000000000000","at":"1970-01-01T00:00:00.000Z"}',
    );
    expect(boundedText({ seen: new Set(['a', 'b']), counts: new Map([['x', 1]]) }, 100)).toBe('{"seen":["a","b"],"counts":{"x":1}}');
  });

  it('marks a circular reference and keeps a shared one', () => {
    const shared = { id: 1 };
    const node: Record<string, unknown> = { name: 'root', left: shared, right: shared };
    node.self = node;
    expect(boundedText(node, 200)).toBe('{"name":"root","left":{"id":1},"right":{"id":1},"self":"[circular]"}');
  });

  it('writes anything else through String, and never throws for a value it cannot write', () => {
    expect(boundedText(undefined, 100)).toBe('undefined');
    expect(boundedText(null, 100)).toBe('null');
    expect(boundedText(42, 100)).toBe('42');
    expect(boundedText(Symbol('s'), 100)).toBe('Symbol(s)');
    const hostile = {
      toJSON() {
        throw new Error('no');
      },
    };
    expect(boundedText(hostile, 100)).toBe('[object Object]');
    expect(boundedText(Object.create(null), 100)).toBe('{}');
  });

  it('bounds nothing with Infinity and refuses a max that is not a whole number of characters', () => {
    expect(boundedText('a'.repeat(5000), Infinity)).toHaveLength(5000);
    expect(() => boundedText('a', -1)).toThrow(RangeError);
    expect(() => boundedText('a', 2.5)).toThrow(/max must be a whole number of characters, 0 or more \(got 2.5\)/);
    expect(() => boundedText('a', Number.NaN)).toThrow(RangeError);
  });

  it('keeps a secret out when used as documented, redacting before bounding; bounding first can leave half of one', () => {
    const secrets = { API_TOKEN: 'tok-0123456789' };
    const output = { stdout: `${'.'.repeat(20)}tok-0123456789${'.'.repeat(30)}` };
    const stored = boundedText(redactSecrets(boundedText(output, Infinity), secrets), 60);
    expect(stored).toBe(`{"stdout":"${'.'.repeat(20)}[redacte…(44 more characters)`);
    expect(redactSecrets(boundedText(output, 60), secrets)).toBe(`{"stdout":"${'.'.repeat(20)}tok-0123…(38 more characters)`);
  });
});
