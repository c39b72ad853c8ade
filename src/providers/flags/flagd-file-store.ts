/**
 * A flag store backed by an OpenFeature flagd flag-definition file (https://flagd.dev/reference/flag-definitions/).
 *
 * Each flag is written as a boolean flag with variants `on: true` and `off: false`, default variant `off`, and the
 * rollout percentage as `fractional` targeting, so any flagd provider (in-process file mode, or a flagd daemon
 * watching the file) splits traffic by targeting key:
 *
 * ```json
 * "checkout-v2": {
 *   "state": "ENABLED",
 *   "variants": { "on": true, "off": false },
 *   "defaultVariant": "off",
 *   "targeting": { "fractional": [["on", 5], ["off", 995]] },
 *   "metadata": { "rolloutPercent": 0.5 }
 * }
 * ```
 *
 * Without a bucketing expression flagd hashes the flag key followed by the targeting key, so a user keeps their
 * variant while the percentage grows, and two flags bucket independently. Evaluations without a targeting key get
 * the default variant (`off`). `enabled: false` writes `state: "DISABLED"`: flagd then answers every evaluation
 * with the caller's default value, whatever the percentage (the kill switch).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { FlagRolloutState, FlagStore } from './flag-store';

const FLAGD_SCHEMA = 'https://flagd.dev/schema/v0/flags.json';

/** Percentages are written to four decimals at most (0.0001% of traffic); more would exceed flagd's integer weights. */
const MAX_DECIMALS = 4;

type JsonObject = Record<string, unknown>;

/** Writes in flight per resolved file path, so writers in one process never lose each other's flags. */
const writeQueues = new Map<string, Promise<void>>();

/**
 * Reads and writes rollout flags in one flagd flag-definition file.
 *
 * - Unrelated flags, unrelated fields of the written flag (such as extra metadata) and top-level keys such as
 *   `$schema`, `$evaluators` or `metadata` are kept as they are.
 * - Targeting an operator wrote around the rollout is kept: when the flag's targeting contains exactly one
 *   `fractional` rule, only that rule's buckets are replaced (its bucketing expression, if any, stays), so a cohort
 *   flag such as `{"if": [{"in": [{"var": "country"}, ["NO", "SE"]]}, {"fractional": …}, "off"]}` keeps its
 *   condition while the rollout moves. Any other targeting is replaced by a plain `fractional` rule.
 * - A missing file (or an empty one, or one whose directory is missing) is an empty flag set; the file and its directory are created on first write.
 * - A file that is not a flag-definition file (invalid JSON, no `flags` object, a flag that is not an object or
 *   has non-boolean variants) makes read and write throw an error naming the file and the problem; it is never
 *   overwritten.
 * - Writes are atomic: a temporary file in the same directory is written, flushed to disk and renamed over the
 *   file, which is then read back to verify. Writes through any store on the same path in this process are
 *   serialized; separate processes writing the same file are not coordinated.
 */
export class FlagdFileStore implements FlagStore {
  private readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /** The flag's state, or undefined when the file or the flag does not exist. */
  async read(flagKey: string): Promise<FlagRolloutState | undefined> {
    const flags = flagsOf(await this.load(), this.path);
    const flag = flags[flagKey];
    return flag === undefined ? undefined : rolloutStateOf(flagObject(flag, flagKey, this.path));
  }

  /**
   * Writes the flag and verifies it by reading the file back. Throws a RangeError for a percentage outside 0–100,
   * and an Error naming the file when it is malformed, cannot be written, or does not read back as written.
   */
  async write(flagKey: string, state: FlagRolloutState): Promise<void> {
    if (!(state.percent >= 0 && state.percent <= 100)) {
      throw new RangeError(`flag "${flagKey}": percent must be between 0 and 100, got ${state.percent}`);
    }
    await serialized(this.path, async () => {
      const file = await this.load();
      const flags = flagsOf(file, this.path);
      const existing = flags[flagKey] === undefined ? undefined : flagObject(flags[flagKey], flagKey, this.path);
      flags[flagKey] = toFlagdFlag(existing, state, flagKey, this.path);
      await this.replaceFile(`${JSON.stringify(file, null, 2)}\n`);
      const readBack = await this.read(flagKey);
      if (readBack?.enabled !== state.enabled || readBack.percent !== state.percent) {
        throw new Error(
          `flag "${flagKey}": wrote ${JSON.stringify(state)} to ${this.path} but read back ${JSON.stringify(readBack)}; ` +
            'another process may be writing the same file',
        );
      }
    });
  }

  /** The parsed file; a missing or empty file is an empty flag-definition file. */
  private async load(): Promise<JsonObject> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      // ENOTDIR: a parent is a regular file, so the file cannot exist either; writing will report it.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { $schema: FLAGD_SCHEMA, flags: {} };
      throw new Error(`cannot read flag file ${this.path}: ${(err as Error).message}`);
    }
    if (text.trim() === '') return { $schema: FLAGD_SCHEMA, flags: {} };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw malformed(this.path, `it is not valid JSON (${(err as Error).message})`);
    }
    if (!isObject(parsed)) throw malformed(this.path, 'its top level is not a JSON object');
    return parsed;
  }

  /** Replaces the file atomically: temporary file in the same directory, fsync, rename. */
  private async replaceFile(text: string): Promise<void> {
    const directory = dirname(this.path);
    const temporary = join(directory, `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(directory, { recursive: true });
      const mode = await stat(this.path).then((s) => s.mode & 0o777, () => 0o644);
      const handle = await open(temporary, 'wx', mode);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
    } catch (err) {
      await unlink(temporary).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === 'EEXIST' || code === 'ENOTDIR' ? 'a part of the path is a file, not a directory' : 'check that the directory is writable';
      throw new Error(`cannot write flag file ${this.path}: ${(err as Error).message}; ${hint}`);
    }
  }
}

/** Runs `task` after every earlier task queued on the same path has settled. */
async function serialized(path: string, task: () => Promise<void>): Promise<void> {
  const previous = writeQueues.get(path) ?? Promise.resolve();
  const run = previous.then(task);
  const settled = run.catch(() => undefined);
  writeQueues.set(path, settled);
  try {
    await run;
  } finally {
    if (writeQueues.get(path) === settled) writeQueues.delete(path);
  }
}

function flagsOf(file: JsonObject, path: string): JsonObject {
  if (file.flags === undefined) throw malformed(path, 'it has no "flags" object');
  if (!isObject(file.flags)) throw malformed(path, '"flags" is not a JSON object');
  return file.flags;
}

function flagObject(flag: unknown, flagKey: string, path: string): JsonObject {
  if (!isObject(flag)) throw malformed(path, `flag "${flagKey}" is not a JSON object`);
  return flag;
}

/** Reads the state back: `metadata.rolloutPercent` when present, else the share of the `on` bucket. */
function rolloutStateOf(flag: JsonObject): FlagRolloutState {
  const metadata = isObject(flag.metadata) ? flag.metadata : {};
  const percent = typeof metadata.rolloutPercent === 'number' ? metadata.rolloutPercent : percentFromTargeting(flag);
  return { enabled: flag.state === 'ENABLED', percent };
}

function percentFromTargeting(flag: JsonObject): number {
  const rule = findFractional(flag.targeting);
  if (rule.length === 1 && rule[0]) {
    const buckets = rule[0].fractional.filter((entry): entry is [unknown, number] => Array.isArray(entry) && typeof entry[1] === 'number');
    const total = buckets.reduce((sum, [, weight]) => sum + weight, 0);
    const on = buckets.filter(([variant]) => variant === 'on').reduce((sum, [, weight]) => sum + weight, 0);
    return total > 0 ? (on / total) * 100 : 0;
  }
  return flag.targeting === undefined && flag.defaultVariant === 'on' ? 100 : 0;
}

function toFlagdFlag(existing: JsonObject | undefined, state: FlagRolloutState, flagKey: string, path: string): JsonObject {
  const variants = isObject(existing?.variants) ? existing.variants : {};
  if (Object.values(variants).some((value) => typeof value !== 'boolean')) {
    throw malformed(path, `flag "${flagKey}" has non-boolean variants; rollout flags are boolean (on/off): rename the flag or remove it from the file`);
  }
  const buckets = fractionalBuckets(state.percent);
  const rules = findFractional(existing?.targeting);
  let targeting: unknown = { fractional: buckets };
  if (rules.length === 1 && rules[0]) {
    const rule = rules[0];
    // Keep a bucketing expression (a first argument that is not a bucket) and any condition around the rule.
    const bucketBy = rule.fractional.length > 0 && !Array.isArray(rule.fractional[0]) ? [rule.fractional[0]] : [];
    rule.fractional = [...bucketBy, ...buckets];
    targeting = existing?.targeting;
  }
  return {
    ...existing,
    state: state.enabled ? 'ENABLED' : 'DISABLED',
    variants: { ...variants, on: true, off: false },
    defaultVariant: 'off',
    targeting,
    metadata: { ...(isObject(existing?.metadata) ? existing.metadata : {}), rolloutPercent: state.percent },
  };
}

/**
 * Integer weights for `on` and `off` in the smallest power-of-ten total that represents the percentage: whole
 * percentages sum to 100 (which every flagd implementation accepts), 0.5 → [5, 995] of 1,000.
 */
function fractionalBuckets(percent: number): [string, number][] {
  let scale = 1;
  for (let decimals = 0; decimals < MAX_DECIMALS && !Number.isInteger(Number((percent * scale).toFixed(8))); decimals++) scale *= 10;
  const total = 100 * scale;
  const on = Math.round(percent * scale);
  return [
    ['on', on],
    ['off', total - on],
  ];
}

/** Every `{ fractional: [...] }` node in a targeting rule. */
function findFractional(node: unknown): { fractional: unknown[] }[] {
  if (Array.isArray(node)) return node.flatMap(findFractional);
  if (!isObject(node)) return [];
  if (Array.isArray(node.fractional) && Object.keys(node).length === 1) return [node as { fractional: unknown[] }];
  return Object.values(node).flatMap(findFractional);
}

function malformed(path: string, problem: string): Error {
  return new Error(`${path} is not a usable flagd flag-definition file: ${problem}. Fix or remove the file; it is not overwritten`);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
