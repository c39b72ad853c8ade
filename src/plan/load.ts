/**
 * Loading a plan: YAML (or JSON) text → schema validation → cross-field checks → a typed {@link Plan}, or a list of
 * {@link PlanIssue}s that each name the file, the line, the path in the plan and what was expected.
 *
 * Never throws for a bad plan: every problem is returned as an issue. (Reading the file can still fail with the
 * usual file-system errors, reported by the caller.)
 */
import { open } from 'node:fs/promises';
import { Composer, isAlias, isMap, isScalar, isSeq, LineCounter, Parser, visit, type CST, type Document, type Node as YamlNode, type Alias, type Pair, type YAMLMap, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { Plan, PLAN_API_VERSION, type PlanInput } from './schema';
import { checkPlan } from './validate';
import { checkDocument, checkIndicatorRuns, checkSyntaxTree, checkTextSize, MAX_PLAN_BYTES } from './yaml-limits';

/** One problem with a plan. */
export interface PlanIssue {
  file: string;
  /** 1-based line, when the problem can be placed in the text. */
  line?: number;
  /** Path in the plan, rendered like `phases[2].gates[0].window`. */
  path: string;
  message: string;
}

/** YAML read into a mapping but not yet checked against the schema: a plan's fields, each of any type. */
type Unchecked = { [Field in keyof PlanInput]?: unknown };

export type PlanLoadResult = { ok: true; plan: Plan; file: string } | { ok: false; issues: PlanIssue[]; file: string };

/** Reads and validates a plan file. Reads at most a few bytes more than a plan may have, whatever the file's size. */
export async function loadPlanFile(file: string): Promise<PlanLoadResult> {
  let text: string;
  try {
    text = await readPrefix(file, MAX_PLAN_BYTES + 4);
  } catch (err) {
    return { ok: false, file, issues: [{ file, path: '', message: `cannot read the plan: ${readFailure(err)}` }] };
  }
  return parsePlanText(text, file);
}

/**
 * The first `limit` bytes of a file as UTF-8 text: enough for {@link parsePlanText} to say where a file over the
 * size limit passes it, without reading gigabytes first. A character cut at the end decodes as U+FFFD.
 */
async function readPrefix(file: string, limit: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(limit);
    let length = 0;
    while (length < limit) {
      const { bytesRead } = await handle.read(buffer, length, limit - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}

/** Why a file could not be read, in words: "no such file" rather than "ENOENT: no such file or directory, open …". */
function readFailure(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a directory, not a file';
    case 'EACCES':
      return 'permission denied';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Validates plan text; `file` is only used in issues. Never throws, whatever the text: text over 1 MiB, nesting deeper
 * than 64 levels or more than 100,000 values (aliases expanded) are issues like any other, found before anything
 * recursive runs (see yaml-limits.ts). Every issue this returns has a line.
 */
export function parsePlanText(text: string, file = '<plan>'): PlanLoadResult {
  const lineCounter = new LineCounter();
  const lineAt = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset).line);
  const fail = (offset: number, message: string, path: readonly PathKey[] = []): PlanLoadResult => ({
    ok: false,
    file,
    issues: [{ file, line: lineAt(offset), path: renderLongPath(path), message }],
  });

  // The lexer recurses on indicators in a row ("- - - …"); the parser then builds the syntax tree without recursion;
  // composing it into a document recurses, so the tree's depth and size are checked in between.
  const early = checkTextSize(text) ?? checkIndicatorRuns(text);
  if (early) return { ok: false, file, issues: [{ file, line: lineOf(text, early.offset), path: '', message: early.message }] };
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const shape = checkSyntaxTree(tokens);
  if (shape) return fail(shape.offset, shape.message, shape.path);
  const doc = composeOne(tokens, text.length);

  const keys = checkKeys(doc);
  const yamlErrors = [
    ...doc.errors.map((e) => ({ offset: e.pos[0], message: e.message.split('\n')[0] ?? '' })),
    ...keys.duplicates.map((offset) => ({ offset, message: 'Map keys must be unique' })),
  ];
  if (yamlErrors.length > 0) {
    // The parser often reports one mistake several times on its line ("bad indent", then "missing value"): keep the first.
    const issues = new Map<number | undefined, PlanIssue>();
    for (const e of yamlErrors.sort((a, b) => a.offset - b.offset)) {
      const line = lineAt(e.offset);
      if (!issues.has(line)) issues.set(line, { file, line, path: '', message: `not valid YAML: ${e.message}` });
    }
    return { ok: false, file, issues: [...issues.values()] };
  }
  const shapeOfDoc = checkDocument(doc);
  if (shapeOfDoc) return fail(shapeOfDoc.offset, shapeOfDoc.message, shapeOfDoc.path);
  if (keys.complex) {
    // A list or a mapping used as a key is valid YAML but has no place in a plan (and would be turned into a string).
    return fail(keys.complex.range?.[0] ?? 0, 'a key must be a name, not a list or a mapping');
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Aliases are resolved here, not while parsing: an alias used in a merge key before its anchor, or aliases that
    // expand too often ("Excessive alias count"). Such errors carry no position: name the first alias's line.
    return fail(firstAliasOffset(doc) ?? 0, `not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, file, issues: [{ file, line: 1, path: '', message: 'expected a plan: a mapping with apiVersion, id, name, target, providers and phases' }] };
  }

  // The version says how to read everything else: a plan of a version this code does not know is refused as a whole,
  // with one issue, rather than field by field against a format it was not written for. (Without one, the schema
  // reports the missing field with the rest.)
  const version = (data as Unchecked).apiVersion;
  if (version !== undefined && version !== PLAN_API_VERSION) {
    return fail(
      offsetOf(doc, ['apiVersion']) ?? 0,
      `unknown plan format version ${got(version)}: this canary reads "${PLAN_API_VERSION}" plans; write the plan for ${PLAN_API_VERSION}`,
      ['apiVersion'],
    );
  }

  const parsed = Plan.safeParse(data);
  if (!parsed.success) {
    return {
      ok: false,
      file,
      issues: byLine(schemaIssues(parsed.error.issues, data).map((issue) => {
        const path = issue.path as PathKey[];
        const keyed = issue.code === 'unrecognized_keys' ? [...path, issue.keys[0] ?? ''] : path;
        return {
          file,
          line: lineAt(offsetOf(doc, keyed)),
          path: renderPath(keyed),
          message: describeIssue(issue, valueAt(data, path), path),
        };
      })),
    };
  }

  const problems = checkPlan(parsed.data);
  if (problems.length > 0) {
    return {
      ok: false,
      file,
      issues: byLine(problems.map((p) => ({ file, line: lineAt(offsetOf(doc, p.path)), path: renderPath(p.path), message: p.message }))),
    };
  }
  return { ok: true, plan: parsed.data, file };
}

/** The 1-based line of `offset`, counted in the text itself: for problems found before the parser has counted lines. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * The one document of a plan, composed from the parser's tokens as `parseDocument` would: a second document is an
 * error placed where it starts.
 */
function composeOne(tokens: CST.Token[], length: number): Document.Parsed {
  let doc: Document.Parsed | undefined;
  for (const next of new Composer({ uniqueKeys: false }).compose(tokens, true, length)) {
    if (!doc) {
      doc = next;
      continue;
    }
    doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], 'MULTIPLE_DOCS', 'a plan is one document, but a second one starts here'));
    break;
  }
  // compose(…, forceDoc) always yields a document, empty text included.
  return doc as Document.Parsed;
}

/**
 * The keys of every mapping: where a key is written twice in one mapping, and the first list or mapping used as a key.
 * One walk with a set per mapping: the yaml library's own check (`uniqueKeys`) compares each key with every earlier
 * one, seconds of work for a mapping with thousands of keys. Runs after the depth check, on a document without cycles.
 */
function checkKeys(doc: Document): { duplicates: number[]; complex?: YamlNode } {
  const duplicates: number[] = [];
  let complex: YamlNode | undefined;
  let anchored: Map<string, YamlNode[]> | undefined;
  /** What an alias used as a key stands for: the last node anchored under its name before it (the yaml library's rule). */
  const resolve = (alias: Alias): YamlNode | undefined => {
    anchored ??= anchoredNodes(doc);
    const nodes = anchored.get(alias.source) ?? [];
    const at = offsetOfNode(alias);
    // Binary search for the last node that starts before the alias.
    let lo = 0;
    let hi = nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offsetOfNode(nodes[mid]) < at) lo = mid + 1;
      else hi = mid;
    }
    return nodes[lo - 1];
  };
  const stack: unknown[] = [doc.contents];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    } else if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        // Alias.resolve would walk the whole document for every alias: thousands of alias keys would take minutes.
        const key = isAlias(pair.key) ? resolve(pair.key) : pair.key;
        if (isScalar(key)) {
          if (seen.has(key.value) && isScalar(pair.key)) duplicates.push(pair.key.range?.[0] ?? 0);
          else seen.add(key.value);
        } else if (key !== null && key !== undefined && (!complex || offsetOfNode(pair.key) < offsetOfNode(complex))) {
          complex = pair.key as YamlNode;
        }
        stack.push(pair.key, pair.value);
      }
    }
  }
  return { duplicates, complex };
}

/** The nodes that carry an anchor, by anchor name, each list in text order. */
function anchoredNodes(doc: Document): Map<string, YamlNode[]> {
  const byName = new Map<string, YamlNode[]>();
  visit(doc, {
    Node(_, node) {
      if (isAlias(node) || !node.anchor) return;
      const nodes = byName.get(node.anchor) ?? [];
      nodes.push(node);
      byName.set(node.anchor, nodes);
    },
  });
  for (const nodes of byName.values()) nodes.sort((a, b) => offsetOfNode(a) - offsetOfNode(b));
  return byName;
}

function offsetOfNode(node: unknown): number {
  return (node as YamlNode).range?.[0] ?? 0;
}

/** The text offset of the first alias in the document, in text order. */
function firstAliasOffset(doc: Document): number | undefined {
  let first: number | undefined;
  visit(doc, {
    Alias(_, alias) {
      const at = alias.range?.[0];
      if (at !== undefined && (first === undefined || at < first)) first = at;
    },
  });
  return first;
}

function byLine(issues: PlanIssue[]): PlanIssue[] {
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** `plans/x.yaml:14 phases[2].gates[0].window: expected …`; without a path, `plans/x.yaml:3: not valid YAML: …`. */
export function formatIssue(issue: PlanIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}`;
  return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

type PathKey = string | number;

/** A path that may be 64 levels long, cut after its first 12 steps: `tasks[0][0][0]…`. */
function renderLongPath(path: readonly PathKey[]): string {
  return path.length > 12 ? `${renderPath(path.slice(0, 12))}…` : renderPath(path);
}

/** `['phases', 2, 'gates', 0, 'window']` → `phases[2].gates[0].window` */
export function renderPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? key : `.${key}`;
  }
  return out;
}

/**
 * The text offset where `path` is written: the key of a field (a block mapping under `hold:` starts a line below it),
 * the node of a list item, or, for a missing field, the nearest ancestor that exists. Keys are looked up in an index
 * per mapping, so placing every issue of a mapping with thousands of unknown keys stays linear.
 */
function offsetOf(doc: Document, path: readonly PathKey[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = isMap(node) || isSeq(node) || isScalar(node) ? node.range?.[0] : undefined;
  for (const key of path) {
    if (typeof key === 'string' && isMap(node)) {
      const pair = pairsByKey(node).get(key);
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (typeof key === 'number' && isSeq(node)) {
      node = node.items[key];
      if (!(isMap(node) || isSeq(node) || isScalar(node))) break;
      offset = node.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}

const pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

/** A mapping's pairs by their key as text (the first of equal keys), built once per mapping. */
function pairsByKey(map: YAMLMap): Map<string, Pair> {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const pair of map.items) {
      if (isScalar(pair.key) && !index.has(String(pair.key.value))) index.set(String(pair.key.value), pair);
    }
    pairIndex.set(map, index);
  }
  return index;
}

function valueAt(data: unknown, path: readonly PathKey[]): unknown {
  let current: unknown = data;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PathKey, unknown>)[key];
  }
  return current;
}

function got(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown, path: readonly PathKey[]): string {
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? `required: expected ${issue.expected}` : `expected ${issue.expected}, got ${got(value)}`;
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? '';
      const known = knownKeysAt(path);
      const suggestion = closest(key, known);
      return `unknown field "${key}"${suggestion ? ` — did you mean "${suggestion}"?` : known.length ? ` (expected one of ${known.join(', ')})` : ''}`;
    }
    case 'invalid_value': {
      const expected = issue.values.map((v) => JSON.stringify(v)).join(' | ');
      return value === undefined ? `required: expected ${expected}` : `expected ${expected}, got ${got(value)}`;
    }
    case 'invalid_union': {
      if ('discriminator' in issue && typeof issue.discriminator === 'string') {
        const options = discriminatorOptions(path.slice(0, -1), issue.discriminator);
        return `expected ${issue.discriminator} to be one of ${options.join(', ')}, got ${got(value)}`;
      }
      // No form has the value's shape (see expandUnion): name the forms.
      return `expected ${formsAt(path).join(' or ')}, got ${got(value)}`;
    }
    case 'invalid_key': {
      // A record key that is not a valid name: the value is fine, the key is what to fix.
      const inner = issue.issues[0];
      return `${inner ? lowerFirst(inner.message) : 'invalid name'}, got ${got(path[path.length - 1])}`;
    }
    case 'too_small':
      if (issue.origin === 'array') return `expected at least ${String(issue.minimum)} item(s), got ${Array.isArray(value) ? value.length : got(value)}`;
      if (issue.origin === 'string') return `must not be empty`;
      // zod's own wording is "Too small: expected number to be >=0"; a schema's custom message is kept.
      if (issue.message.startsWith('Too small')) return `expected ${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}, got ${got(value)}`;
      return `${lowerFirst(issue.message)}, got ${got(value)}`;
    case 'too_big':
      if (issue.message.startsWith('Too big')) return `expected ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}, got ${got(value)}`;
      return `${lowerFirst(issue.message)}, got ${got(value)}`;
    default:
      return `${lowerFirst(issue.message)}, got ${got(value)}`;
  }
}

/**
 * The issues to report for zod's issues: one per unknown key, unions resolved to the form the value has, and a
 * misspelt required field reported once — as the unknown key with its suggestion, not also as missing.
 */
function schemaIssues(issues: readonly z.core.$ZodIssue[], data: unknown): z.core.$ZodIssue[] {
  const all = issues
    .flatMap((issue) => expandUnion(issue, data))
    .flatMap((issue): z.core.$ZodIssue[] => (issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ ...issue, keys: [key] })) : [issue]));
  const suggested = new Set<string>();
  for (const issue of all) {
    if (issue.code !== 'unrecognized_keys') continue;
    const path = issue.path as PathKey[];
    const suggestion = closest(issue.keys[0] ?? '', knownKeysAt(path));
    if (suggestion) suggested.add(renderPath([...path, suggestion]));
  }
  return all.filter(
    (issue) => issue.code === 'unrecognized_keys' || valueAt(data, issue.path as PathKey[]) !== undefined || !suggested.has(renderPath(issue.path as PathKey[])),
  );
}

/**
 * A value that matches no form of a union: when one form has the value's shape (every field it has is known to that
 * form, none it needs is missing), its own, deeper issues are the ones to report — `baseline.capture: expected
 * "before-rollout" | "phase-start"` rather than "matches no form". Otherwise the union issue stays.
 */
function expandUnion(issue: z.core.$ZodIssue, data: unknown): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union' || issue.discriminator !== undefined) return [issue];
  const at = issue.path;
  const fits = (branch: z.core.$ZodIssue[]) =>
    branch.length > 0 &&
    branch.every((e) => e.path.length > 0 && !(e.path.length === 1 && valueAt(data, [...at, ...e.path] as PathKey[]) === undefined));
  const best = issue.errors.filter(fits).sort((a, b) => a.length - b.length)[0];
  if (!best) return [issue];
  return best.flatMap((e) => expandUnion({ ...e, path: [...at, ...e.path] }, data));
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

// --- schema walking, for helpful messages --------------------------------------------------------------------

type AnySchema = z.core.$ZodType;

function defOf(schema: AnySchema): Record<string, unknown> & { type: string } {
  return (schema as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
}

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') && def.innerType) {
      current = def.innerType as AnySchema;
    } else if (def.type === 'pipe' && def.in) {
      current = def.in as AnySchema;
    } else {
      return current;
    }
  }
}

/** The schemas that could sit at `path` (several when a union is not yet resolved). */
function schemasAt(path: readonly PathKey[]): AnySchema[] {
  let current: AnySchema[] = [Plan];
  for (const key of path) {
    const next: AnySchema[] = [];
    for (const candidate of current.flatMap(expandUnions)) {
      const def = defOf(candidate);
      if (def.type === 'object' && typeof key === 'string') {
        const child = (def.shape as Record<string, AnySchema>)[key];
        if (child) next.push(unwrap(child));
      } else if (def.type === 'array') {
        next.push(unwrap(def.element as AnySchema));
      } else if (def.type === 'record') {
        next.push(unwrap(def.valueType as AnySchema));
      }
    }
    current = next;
  }
  return current.flatMap(expandUnions);
}

function expandUnions(schema: AnySchema): AnySchema[] {
  const s = unwrap(schema);
  const def = defOf(s);
  return def.type === 'union' ? (def.options as AnySchema[]).flatMap(expandUnions) : [s];
}

function knownKeysAt(path: readonly PathKey[]): string[] {
  const keys = new Set<string>();
  for (const schema of schemasAt(path)) {
    const def = defOf(schema);
    if (def.type === 'object') Object.keys(def.shape as object).forEach((k) => keys.add(k));
  }
  return [...keys];
}

/** The forms a union at `path` accepts, for messages: `{ metric }`, `{ usernameEnv, passwordEnv }`, `number`. */
function formsAt(path: readonly PathKey[]): string[] {
  const forms = new Set<string>();
  for (const schema of schemasAt(path)) {
    const def = defOf(schema);
    if (def.type !== 'object') {
      forms.add(def.type);
      continue;
    }
    const shape = def.shape as Record<string, AnySchema>;
    const required = Object.keys(shape).filter((key) => {
      const type = defOf(shape[key] as AnySchema).type;
      return type !== 'optional' && type !== 'default';
    });
    forms.add(`{ ${(required.length > 0 ? required : Object.keys(shape)).join(', ')} }`);
  }
  return [...forms];
}

function discriminatorOptions(path: readonly PathKey[], discriminator: string): string[] {
  const options: string[] = [];
  for (const schema of schemasAt(path)) {
    const def = defOf(schema);
    if (def.type !== 'object') continue;
    const field = (def.shape as Record<string, AnySchema>)[discriminator];
    if (!field) continue;
    const fieldDef = defOf(unwrap(field));
    if (fieldDef.type === 'literal') options.push(...(fieldDef.values as unknown[]).map(String));
  }
  return options;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j] ?? 0;
      // Comparisons rather than Math.min: a global looked up in this inner loop is slow in a vm context (jest).
      const remove = saved + 1;
      const insert = (row[j - 1] ?? 0) + 1;
      const replace = previous + (a[i - 1] === b[j - 1] ? 0 : 1);
      row[j] = remove < insert ? (remove < replace ? remove : replace) : insert < replace ? insert : replace;
      previous = saved;
    }
  }
  return row[b.length] ?? 0;
}
