/**
 * Keeping secrets and bulk out of text that leaves the worker: what a command task prints ends up in Temporal history
 * and in reports, where anyone who can read the rollout can read it. Pure functions: no I/O, no clock.
 *
 * Order matters when both are used: redact before bounding, and bound objects to JSON first —
 * `boundedText(redactSecrets(boundedText(value, Infinity)), max)` — since a secret cut in two by the bound is no longer
 * recognised, and a leftover half is still half a secret.
 */

/** Environment variables whose names match this hold secrets (seed: tokens, passwords, keys, DSNs, webhook URLs). */
export const SECRET_NAME = /(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL|AUTH|DSN|WEBHOOK)/i;

/**
 * A value that is a URL with a password in it (`smtp://user:password@host`, `postgres://u:p@db/x`) is a secret whatever
 * its variable is called: a plan names such variables freely (an email channel's `smtpUrlEnv`).
 */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:[^/?#@\s]+@/i;

/** Values shorter than this are left alone: they would hide ordinary words and numbers everywhere. */
export const MIN_SECRET_LENGTH = 6;

/** A text to hide and the variable it is named after. */
interface Needle {
  text: string;
  name: string;
}

/** Where a secret occurs in the text: `[start, end)`, named after the longest value found there. */
interface Span {
  start: number;
  end: number;
  name: string;
  length: number;
}

/**
 * Replaces every occurrence in `text` of the value of a secret-looking environment variable ({@link SECRET_NAME}, or
 * any variable holding a URL with a password, at least {@link MIN_SECRET_LENGTH} characters) with `[redacted:NAME]`.
 *
 * Besides the exact value, its trimmed form (a value read from a file often ends in a newline) and its JSON-escaped
 * form (a value with quotes or newlines inside a JSON document) are hidden too. Longer values win: a value inside
 * another is hidden as part of the longer one, and overlapping occurrences are hidden as one, named after the
 * longest value among them, so no character of any secret survives. Two variables with the same value: the name
 * first in alphabetical order is shown. The text is scanned once; a value that happens to appear in a
 * `[redacted:NAME]` marker does not garble it.
 */
export function redactSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const needles = secretNeedles(env);
  if (needles.length === 0 || text.length < MIN_SECRET_LENGTH) return text;
  const spans = merge(needles.flatMap((needle) => occurrences(text, needle)));
  let out = '';
  let at = 0;
  for (const span of spans) {
    out += `${text.slice(at, span.start)}[redacted:${span.name}]`;
    at = span.end;
  }
  return out + text.slice(at);
}

/** The texts to hide, longest first; each text once, under the alphabetically first variable that holds it. */
function secretNeedles(env: NodeJS.ProcessEnv): Needle[] {
  const byText = new Map<string, string>();
  const names = Object.keys(env)
    .filter((name) => SECRET_NAME.test(name) || URL_WITH_PASSWORD.test(env[name]?.trim() ?? ''))
    .sort();
  for (const name of names) {
    const value = env[name];
    if (value === undefined) continue;
    for (const form of [value, value.trim(), JSON.stringify(value).slice(1, -1)]) {
      if (form.length >= MIN_SECRET_LENGTH && !byText.has(form)) byText.set(form, name);
    }
  }
  return [...byText].map(([text, name]) => ({ text, name })).sort((a, b) => b.text.length - a.text.length);
}

/** Every occurrence of `needle` in `text`, overlapping ones (a value of repeated characters) joined into one span. */
function occurrences(text: string, needle: Needle): Span[] {
  const spans: Span[] = [];
  for (let start = text.indexOf(needle.text); start !== -1; start = text.indexOf(needle.text, start + 1)) {
    const end = start + needle.text.length;
    const last = spans.at(-1);
    if (last && start < last.end) last.end = end;
    else spans.push({ start, end, name: needle.name, length: needle.text.length });
  }
  return spans;
}

/** The spans in text order, overlapping ones joined and named after the longest value among them. */
function merge(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || b.length - a.length);
  const merged: Span[] = [];
  for (const span of spans) {
    const last = merged.at(-1);
    if (!last || span.start >= last.end) {
      merged.push({ ...span });
      continue;
    }
    last.end = Math.max(last.end, span.end);
    if (span.length > last.length) Object.assign(last, { name: span.name, length: span.length });
  }
  return merged;
}

/**
 * `value` as one string of at most `max` characters (UTF-16 code units): a string as it is; an Error as
 * `Name: message`; an object or array as JSON (Errors, Maps, Sets and bigints inside it readable, a circular reference
 * as "[circular]"); anything else through `String`. A longer text is cut and ends in `…(N more characters)`, N
 * counting what was cut, or in a bare `…` when `max` is too small to say how many; a cut never splits a surrogate
 * pair. `max` is a whole number, or `Infinity` for no bound. Throws a RangeError for any other `max`.
 */
export function boundedText(value: unknown, max: number): string {
  if (!(Number.isInteger(max) && max >= 0) && max !== Infinity) throw new RangeError(`boundedText: max must be a whole number of characters, 0 or more (got ${max})`);
  const text = asText(value);
  if (text.length <= max) return text;
  // How much is cut decides the suffix's length (its digits), and the suffix's length how much is cut: the smallest
  // digit count that fits the number it leads to settles both.
  const words = '…( more characters)'.length;
  let digits = 1;
  while (String(text.length - (max - words - digits)).length > digits) digits++;
  const kept = max - words - digits;
  if (kept < 0) return max === 0 ? '' : `${headOf(text, max - 1)}…`;
  const head = headOf(text, kept);
  return `${head}…(${text.length - head.length} more characters)`;
}

/** The first `length` code units of `text`, one fewer when the cut would split a surrogate pair. */
function headOf(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}

/** `value` as text, never throwing: a getter or `toJSON` that throws leaves the value's plain description. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    if (typeof value !== 'object' || value === null) return String(value);
    return JSON.stringify(value, jsonReplacer()) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A JSON.stringify replacer that keeps what JSON would drop or choke on readable, and stops at cycles. */
function jsonReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  // The objects from the root down to the one being written: a value among them is a cycle, not a shared reference.
  const ancestors: unknown[] = [];
  return function (this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value !== 'object' || value === null) return value;
    while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
    if (ancestors.includes(value)) return '[circular]';
    ancestors.push(value);
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    if (value instanceof Map) return Object.fromEntries(value);
    if (value instanceof Set) return [...value];
    return value;
  };
}
