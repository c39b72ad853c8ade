/**
 * The plan loader under fire: thousands of seeded mutations of the real plans in plans/ — flipped bytes, deleted,
 * duplicated and swapped lines, broken indentation, scalars replaced by huge, negative, zero, NaN, empty or structured
 * values, deep nesting, aliases, very long strings, random unicode — each loaded by `parsePlanText`, the function both
 * `canary validate` (through `loadPlanFile`) and `POST /rollouts` call. Nothing may throw: every input gives a plan or
 * issues that each have a line and say what is wrong. A mutation that still validates must be a plan that can run:
 * every duration finite and within 366 days, and every interval, window and period at least a second.
 *
 * Deterministic: the same seed gives the same mutations; a failure names the mutation's number and its edits.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryParseDuration } from '../../src/domain/duration';
import { loadPlanFile, parsePlanText, type PlanLoadResult } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';

const SEED = 0x5eed_2026;
const MUTATIONS = 5_000;
/** Every this many mutations goes through a file and `loadPlanFile`, as `canary validate` reads it. */
const THROUGH_FILE_EVERY = 25;

const PLANS_DIR = join(__dirname, '../../plans');
const PLANS = readdirSync(PLANS_DIR)
  .filter((name) => name.endsWith('.yaml'))
  .sort()
  .map((name) => ({ file: `plans/${name}`, text: readFileSync(join(PLANS_DIR, name), 'utf8') }));

const DAY_MS = 86_400_000;

// --- a seeded random source ------------------------------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)] as T;

/**
 * A plan to mutate, with probability proportional to 1/√size: loading takes time in proportion to size, and the
 * largest plan is fifteen times the smallest. Every plan is still mutated hundreds of times, and the run stays under
 * a minute on two cores.
 */
const PLAN_WEIGHTS = PLANS.map((plan) => 1 / Math.sqrt(plan.text.length));

function pickPlan(rng: Rng): (typeof PLANS)[number] {
  let r = rng() * PLAN_WEIGHTS.reduce((a, b) => a + b, 0);
  for (const [i, weight] of PLAN_WEIGHTS.entries()) {
    r -= weight;
    if (r < 0) return PLANS[i] as (typeof PLANS)[number];
  }
  return PLANS[PLANS.length - 1] as (typeof PLANS)[number];
}

// --- mutations ---------------------------------------------------------------------------------------------------

/** Values a careless or hostile edit might leave where a scalar was. */
const VALUES = [
  '0', '-1', '-0', '1e308', '1e400', '-1e400', '99999999999999999999', '0x1F', '0o17', '.nan', '.NaN', '.inf', '-.inf',
  '""', "''", '~', 'null', 'true', 'no', '{}', '[]', '{ a: 1 }', '[1, [2, [3]]]', '{ kind: threshold }', '"0"', '" "',
  '!!binary aGVsbG8=', '!!str 5', '!!int "x"', '!!float 1', '2026-01-01', '12:30', '"\\u0000"', '"\\ud800"', '|\n  block',
  '>-\n  folded', '&anchor value', '*nowhere', '? complex', '- item', '"unterminated', "'also unterminated", '{ unclosed: 1',
  '[unclosed', '# only a comment', '@reserved', '`backtick',
];

/** Durations at and around every limit, and some that are not durations at all. */
const DURATIONS = [
  '0', '0s', '0ms', '0.4ms', '1ms', '99ms', '100ms', '999ms', '1s', '1.5s', '59s', '1m', '1h30m', '24h', '366d', '367d',
  '8784h', '8785h', `${'9'.repeat(400)}d`, '1e3s', '-1s', '1h1h', '30m1h', 's', '5', '""', '~', '.inf', '.nan', '[1s]',
];

const DURATION_KEYS = /^(\s*(?:- )?)(interval|window|for|every|timeout|lookback|maxGap|longerThan|within|expiresAfter|after|repeatFor|minDuration|maxDuration|inconclusiveLimit|duration|over)(:\s*)(\S.*)$/;
const SCALAR_LINE = /^(\s*(?:- )?[A-Za-z_][\w.-]*:\s+)([^\s#{[|>&*!].*)$/;
const INLINE_DURATION = /\b(interval|window|for|every|timeout|lookback|maxGap|longerThan|within|expiresAfter|after|repeatFor|minDuration|maxDuration|inconclusiveLimit): ([^,}\s]+)/g;

const YAML_TOKENS = [
  ':', ': ', '- ', '? ', '{', '}', '[', ']', ',', '#', '&a ', '*a', '!', '!!str ', '|', '>', '"', "'", '%', '@', '`', '---',
  '...', '<<: *a', '\t', '\n', '\r\n', '\r', ' ', '  ', '\\',
];

const UNICODE = ['\uFEFF', '\u200B', '\u200D', '\u202E', '\u2028', '\u2029', '\u0000', '\u0007', '\u007F', '\u00A0', '\uD800', '\uDFFF', '😀', '👩‍💻', 'é', 'ß', '中文', 'עברית', '\uFFFD', '\uFFFF'];

interface Mutation {
  name: string;
  apply: (text: string, rng: Rng) => string;
}

const lines = (text: string) => text.split('\n');
const randomLine = (rng: Rng, all: string[]) => int(rng, all.length);

/** Replaces a random line that matches `pattern` by `edit(match)`; the text unchanged when none matches. */
function editMatchingLine(text: string, rng: Rng, pattern: RegExp, edit: (m: RegExpMatchArray) => string): string {
  const all = lines(text);
  const candidates = all.flatMap((line, i) => (pattern.test(line) ? [i] : []));
  if (candidates.length === 0) return text;
  const i = pick(rng, candidates);
  const m = (all[i] as string).match(pattern) as RegExpMatchArray;
  all[i] = edit(m);
  return all.join('\n');
}

function nest(rng: Rng, levels: number): string {
  switch (int(rng, 3)) {
    case 0:
      return '['.repeat(levels) + ']'.repeat(levels);
    case 1:
      return '{a: '.repeat(levels) + '1' + '}'.repeat(levels);
    default:
      return '[a: '.repeat(levels) + '1' + ']'.repeat(levels);
  }
}

const MUTATIONS_BY_KIND: Mutation[] = [
  {
    name: 'flip a byte',
    apply: (text, rng) => {
      const at = int(rng, text.length);
      const by = rng() < 0.5 ? String.fromCharCode(32 + int(rng, 95)) : rng() < 0.5 ? pick(rng, YAML_TOKENS) : String.fromCharCode(int(rng, 0x10000));
      return text.slice(0, at) + by + text.slice(at + 1);
    },
  },
  {
    name: 'delete lines',
    apply: (text, rng) => {
      const all = lines(text);
      all.splice(randomLine(rng, all), 1 + int(rng, 3));
      return all.join('\n');
    },
  },
  {
    name: 'duplicate lines',
    apply: (text, rng) => {
      const all = lines(text);
      const at = randomLine(rng, all);
      all.splice(at, 0, ...all.slice(at, at + 1 + int(rng, 4)));
      return all.join('\n');
    },
  },
  {
    name: 'swap two lines',
    apply: (text, rng) => {
      const all = lines(text);
      const a = randomLine(rng, all);
      const b = Math.min(all.length - 1, a + 1 + int(rng, 5));
      [all[a], all[b]] = [all[b] as string, all[a] as string];
      return all.join('\n');
    },
  },
  {
    name: 'change indentation',
    apply: (text, rng) => {
      const all = lines(text);
      const i = randomLine(rng, all);
      const line = all[i] as string;
      const body = line.trimStart();
      const indent = line.length - body.length;
      const neighbour = all[Math.max(0, i - 1)] as string;
      const choices = [
        ' '.repeat(Math.max(0, indent - 1 - int(rng, 4))) + body,
        ' '.repeat(indent + 1 + int(rng, 4)) + body,
        ' '.repeat(neighbour.length - neighbour.trimStart().length) + body,
        '\t'.repeat(Math.max(1, indent / 2)) + body,
        body,
      ];
      all[i] = pick(rng, choices);
      return all.join('\n');
    },
  },
  {
    name: 'replace a scalar',
    apply: (text, rng) => editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}${pick(rng, VALUES)}`),
  },
  {
    name: 'replace a number',
    apply: (text, rng) => {
      const numbers = [...text.matchAll(/(?<=: )-?\d+(\.\d+)?(?=[\s,}\]])/g)];
      if (numbers.length === 0) return text;
      const m = pick(rng, numbers);
      const value = pick(rng, ['0', '-1', '-0.5', '1e308', '1e400', '.nan', '.inf', '-.inf', '100.0001', '1000', '1001', '99999999999999999999', '0.1', '"10"']);
      return text.slice(0, m.index) + value + text.slice((m.index ?? 0) + m[0].length);
    },
  },
  {
    name: 'replace a duration',
    apply: (text, rng) => {
      if (rng() < 0.5) return editMatchingLine(text, rng, DURATION_KEYS, (m) => `${m[1]}${m[2]}${m[3]}${pick(rng, DURATIONS)}`);
      const inline = [...text.matchAll(INLINE_DURATION)];
      if (inline.length === 0) return text;
      const m = pick(rng, inline);
      const at = (m.index ?? 0) + (m[1] as string).length + 2;
      return text.slice(0, at) + pick(rng, DURATIONS) + text.slice(at + (m[2] as string).length);
    },
  },
  {
    name: 'nest a value deeply',
    apply: (text, rng) => {
      const levels = pick(rng, [2, 10, 32, 63, 64, 65, 100, 1_000, 3_000]);
      if (rng() < 0.25) {
        // Block style: the levels as lines under a key, one space further each.
        const deep = Array.from({ length: Math.min(levels, 1_200) }, (_, i) => `${' '.repeat(i + 2)}${rng() < 0.5 ? 'a:' : '-'}`).join('\n');
        return editMatchingLine(text, rng, SCALAR_LINE, (m) => `${(m[1] as string).trimEnd()}\n${deep} 1`);
      }
      if (rng() < 0.2) return editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}${'- '.repeat(levels)}x`);
      return editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}${nest(rng, levels)}`);
    },
  },
  {
    name: 'add aliases',
    apply: (text, rng) => {
      switch (int(rng, 5)) {
        case 0: {
          // Anchor a value, then use it somewhere else (often where it does not belong).
          const anchored = editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}&x ${m[2]}`);
          return editMatchingLine(anchored, rng, SCALAR_LINE, (m) => `${m[1]}*x`);
        }
        case 1:
          return editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}*missing`);
        case 2:
          return editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}&self [1, *self]`);
        case 3: {
          const bomb = ['z0: &z0 [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `z${i + 1}: &z${i + 1} [${Array(10).fill(`*z${i}`).join(', ')}]`)];
          return `${text}\n${bomb.join('\n')}\n`;
        }
        default:
          return editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}&many [${Array(150).fill('*many0').join(', ')}]`).replace(/^/, 'many0: &many0 1\n');
      }
    },
  },
  {
    name: 'a very long string',
    apply: (text, rng) => {
      const length = pick(rng, [1_000, 50_000, 1_100_000]);
      const long = pick(rng, ['x', 'é', '😀', '- ', ' ']).repeat(length);
      return rng() < 0.5
        ? editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}"${long}"`)
        : editMatchingLine(text, rng, SCALAR_LINE, (m) => `${m[1]}${long}`);
    },
  },
  {
    name: 'insert unicode',
    apply: (text, rng) => {
      let out = text;
      for (let n = 1 + int(rng, 5); n > 0; n--) {
        const at = int(rng, out.length);
        out = out.slice(0, at) + (rng() < 0.5 ? pick(rng, UNICODE) : String.fromCodePoint(int(rng, 0x110000))) + out.slice(at);
      }
      return out;
    },
  },
  {
    name: 'splice YAML tokens',
    apply: (text, rng) => {
      const at = int(rng, text.length);
      return text.slice(0, at) + Array.from({ length: 1 + int(rng, 6) }, () => pick(rng, YAML_TOKENS)).join('') + text.slice(at);
    },
  },
  {
    name: 'truncate',
    apply: (text, rng) => text.slice(0, int(rng, text.length)),
  },
];

// --- what every result must be ----------------------------------------------------------------------------------

/** Why `result` breaks the loader's contract for `text`, or undefined. */
function contractBroken(result: PlanLoadResult, text: string, file: string): string | undefined {
  if (result.file !== file) return `result names file ${result.file}`;
  if (result.ok) return planCannotRun(result.plan);
  if (result.issues.length === 0) return 'rejected without an issue';
  const lastLine = text.split('\n').length;
  for (const issue of result.issues) {
    const where = JSON.stringify(issue).slice(0, 200);
    if (issue.file !== file) return `issue names another file: ${where}`;
    if (!Number.isInteger(issue.line) || (issue.line as number) < 1 || (issue.line as number) > lastLine) return `issue without a line in 1..${lastLine}: ${where}`;
    if (typeof issue.path !== 'string') return `issue without a path: ${where}`;
    if (typeof issue.message !== 'string' || issue.message.trim() === '') return `issue without a message: ${where}`;
    if (/call stack|RangeError|should not happen/i.test(issue.message)) return `internal error reported as an issue: ${where}`;
  }
  return undefined;
}

/** Durations that must be at least a second: a zero window or interval makes the rollout loop without advancing. */
const AT_LEAST_A_SECOND = new Set(['interval', 'window', 'every']);
const DURATION_FIELDS = new Set([
  'interval', 'window', 'for', 'every', 'timeout', 'lookback', 'maxGap', 'longerThan', 'within', 'expiresAfter', 'after',
  'repeatFor', 'minDuration', 'maxDuration', 'inconclusiveLimit', 'duration', 'over',
]);

/** Why a validated plan could not run, or undefined: every duration parsed, finite, within 366 days and, for periods, at least 1s. */
function planCannotRun(plan: Plan): string | undefined {
  const stack: Array<[unknown, string]> = [[plan, '']];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, path] = next;
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push([item, `${path}[${i}]`]));
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    for (const [key, child] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      // Alert labels are free text, whatever their names.
      if (key === 'labels') continue;
      if (DURATION_FIELDS.has(key) && typeof child === 'string') {
        const ms = tryParseDuration(child);
        if (ms === undefined || !Number.isFinite(ms)) return `${at}: "${child}" is not a finite duration`;
        if (ms < 0 || ms > 366 * DAY_MS) return `${at}: "${child}" is outside 0s..366d`;
        if (AT_LEAST_A_SECOND.has(key) && ms < 1_000) return `${at}: "${child}" is shorter than 1s`;
      }
      if (key === 'consecutiveWindows' && (typeof child !== 'number' || child < 1 || child > 1_000)) return `${at}: ${String(child)} windows`;
      if (typeof child === 'number' && !Number.isFinite(child)) return `${at}: ${child} is not finite`;
      stack.push([child, at]);
    }
    const windows = (value as { consecutiveWindows?: number; window?: string }).consecutiveWindows;
    const windowMs = tryParseDuration((value as { window?: string }).window ?? '');
    if (windows !== undefined && windowMs !== undefined && windows * windowMs > 366 * DAY_MS) return `${path}: ${windows} windows need more than 366d`;
  }
  return undefined;
}

// --- the run ----------------------------------------------------------------------------------------------------

test('5,000 mutations of the plans in plans/ each load to a plan that can run or to issues with lines, and never throw', async () => {
  expect(PLANS.length).toBeGreaterThanOrEqual(6);
  for (const plan of PLANS) expect(parsePlanText(plan.text, plan.file).ok).toBe(true);

  const rng = random(SEED);
  const dir = mkdtempSync(join(tmpdir(), 'canary-plan-fuzz-'));
  const failures: string[] = [];
  const count = { valid: 0, rejected: 0, throughFile: 0 };
  const byKind = new Map<string, number>();
  const byPlan = new Map<string, number>();
  const started = Date.now();
  try {
    for (let n = 0; n < MUTATIONS; n++) {
      const source = pickPlan(rng);
      const edits = Array.from({ length: rng() < 0.6 ? 1 : 2 + int(rng, 2) }, () => pick(rng, MUTATIONS_BY_KIND));
      let text = source.text;
      for (const edit of edits) text = edit.apply(text, rng);
      edits.forEach((edit) => byKind.set(edit.name, (byKind.get(edit.name) ?? 0) + 1));
      byPlan.set(source.file, (byPlan.get(source.file) ?? 0) + 1);

      let result: PlanLoadResult;
      try {
        if (n % THROUGH_FILE_EVERY === 0) {
          const file = join(dir, `mutation-${n}.yaml`);
          writeFileSync(file, text);
          result = await loadPlanFile(file);
          result = { ...result, file: source.file };
          if (!result.ok) result.issues = result.issues.map((issue) => ({ ...issue, file: source.file }));
          count.throughFile++;
        } else {
          result = parsePlanText(text, source.file);
        }
      } catch (err) {
        failures.push(`mutation ${n} (${source.file}: ${edits.map((e) => e.name).join(', ')}) threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        continue;
      }
      const broken = contractBroken(result, text, source.file);
      if (broken) failures.push(`mutation ${n} (${source.file}: ${edits.map((e) => e.name).join(', ')}): ${broken}`);
      if (result.ok) count.valid++;
      else count.rejected++;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `plan-loader fuzz: ${MUTATIONS} mutations of ${PLANS.length} plans in ${seconds}s — ${count.valid} valid, ${count.rejected} rejected, ` +
      `${count.throughFile} through loadPlanFile, ${failures.length} broke the contract; plans: ${[...byPlan].map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
      `edits: ${[...byKind].map(([k, v]) => `${k} ${v}`).join(', ')}`,
  );
  expect(failures.slice(0, 20)).toEqual([]);
  // The mutations must exercise both outcomes, or the contract checks above prove little.
  expect(count.valid).toBeGreaterThan(MUTATIONS / 20);
  expect(count.rejected).toBeGreaterThan(MUTATIONS / 2);
  for (const plan of PLANS) expect(byPlan.get(plan.file) ?? 0).toBeGreaterThan(MUTATIONS / 20);
}, 180_000);
