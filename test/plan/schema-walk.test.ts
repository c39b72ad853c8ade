/**
 * "Nothing in the schema is accepted and then ignored." Walks the plan's JSON Schema — generated in-process exactly as
 * `canary schema` prints it — and, for every property at every path, looks for code that reads it: code outside the
 * plan format itself, the loader and validation, found with the TypeScript type checker (schema-reads.ts). A field
 * nobody reads is a promise the plan makes and the rollout does not keep: carry it out, or take it out of the format.
 */
import { resolve } from 'node:path';
import * as ts from 'typescript';
import { z } from 'zod';
import { planJsonSchemaText } from '../../src/cli/commands/schema';
import { collectReads, readersOf, schemaFields, unreadFields, type FieldRead, type JsonSchema, type SchemaField } from './schema-reads';

const ROOT = resolve(__dirname, '../..');
const SCHEMA_FILES = ['src/domain/plan-schema/index.ts', 'src/domain/plan-schema/conditions.ts', 'src/domain/plan-schema/primitives.ts'];

/**
 * Where a read says nothing about whether a field is carried out: the format's own files, and the code that only
 * loads and validates plans (it reads every field to check it). `canary schema` and the OpenAPI document only
 * serialize the schema and read no plan field.
 */
const NOT_READERS = new Set([...SCHEMA_FILES, 'src/plan/schema.ts', 'src/plan/load.ts', 'src/plan/validate.ts', 'src/plan/yaml-limits.ts']);

/** A field that is read, by design, only where reads do not count, or only by people. */
interface ReadElsewhere {
  what: string;
  fields: (field: SchemaField) => boolean;
  /** Who reads it and what for. */
  readBy: string;
  /** The file that reads it, when code does: the test checks that it does. */
  file?: string;
}

/**
 * The allow-list: only fields whose reading is the loader's or validation's job, and documentation by design. Each
 * entry says who reads the field. A field that code starts reading must leave this list (a test below says so).
 */
const READ_ELSEWHERE: ReadElsewhere[] = [
  {
    what: 'apiVersion',
    fields: (f) => f.path === 'apiVersion',
    // The version decides how the rest of the file is read; nothing after loading needs it.
    readBy: 'the loader: it refuses a plan of any version but canary/v1 as a whole (test/plan/invalid-plans.test.ts)',
    file: 'src/plan/load.ts',
  },
  {
    what: 'allowDecreasingPercent',
    fields: (f) => f.path === 'allowDecreasingPercent',
    // Its whole meaning is a validation rule lifted; the rollout then simply follows the phases' percentages.
    readBy: 'validation: it lifts the rule that traffic increases from phase to phase',
    file: 'src/plan/validate.ts',
  },
  {
    what: 'seed citations (`source: seed 003 "…"`) of tasks, budgets, config changes, notification rules and the plan',
    fields: (f) => f.name === 'source' && typeof f.schema.description === 'string' && f.schema.description.startsWith('Where this rule comes from'),
    // The citations of phases, checks, conditions, triggers, approvals and tokens are read by `canary plan`.
    readBy: 'people checking the plan against its seed document, in the plan file',
  },
  {
    what: 'descriptions of metrics and roles',
    fields: (f) => /^(metrics|roles)\.\*\.description$/.test(f.path),
    readBy: 'people reading the plan file: what a metric measures, who holds a role (the query, unit and members are what runs)',
  },
  {
    what: 'the name of an approval requirement',
    fields: (f) => f.path === 'phases[].approvals[].name',
    // A label: approvals are asked for, waited on and reported by role and phase, never by this name.
    readBy: 'people reading the plan file: a label for the approval (seed plans name the decision, e.g. cfo-stripe-live)',
  },
];

/** The plan's JSON Schema, exactly as `canary schema` prints it. */
function planSchema(): JsonSchema {
  return JSON.parse(planJsonSchemaText()) as JsonSchema;
}

function sourceFiles(): string[] {
  return ts.sys
    .readDirectory(resolve(ROOT, 'src'), ['.ts'])
    .filter((file) => !file.endsWith('.d.ts'))
    .map((file) => file.slice(ROOT.length + 1));
}

/** The fields no counting read stands for and that neither list explains, in words. */
function unexplained(fields: readonly SchemaField[], reads: readonly FieldRead[]): string[] {
  return unreadFields(fields, reads)
    .filter((f) => !READ_ELSEWHERE.some((entry) => entry.fields(f)))
    .map((f) => `${f.path}: accepted, and nothing outside the format, the loader and validation reads it`);
}

let fields: SchemaField[];
/** Reads by code that counts. */
let reads: FieldRead[];
/** Reads by the loader and validation (for the allow-list's claims). */
let loaderReads: FieldRead[];

beforeAll(() => {
  fields = schemaFields(planSchema());
  const all = collectReads({ root: ROOT, files: sourceFiles(), schemaFiles: SCHEMA_FILES });
  reads = all.filter((r) => !NOT_READERS.has(r.file));
  loaderReads = all.filter((r) => NOT_READERS.has(r.file));
}, 180_000);

describe('nothing in the plan format is accepted and then ignored', () => {
  test('the walk covers the whole format: every section, every condition kind, every channel type', () => {
    const paths = new Set(fields.map((f) => f.path));
    expect(fields.length).toBeGreaterThan(1000);
    for (const path of [
      'apiVersion',
      'phases[].gates[].when<threshold>.consecutiveWindows',
      'phases[].gates[].when<relative>.baseline<{capture}>.capture',
      'triggers[].hold.decidedBy',
      'channels.*<email>.smtpUrlEnv',
      'providers.metrics.*<prometheus>.auth<{bearerTokenEnv}>.bearerTokenEnv',
      'afterFull.stabilization.tasks[].repeatFor',
      'evidence.bundle',
    ]) {
      expect(paths).toContain(path);
    }
  });

  test('every field is read by code outside the format, the loader and validation (or listed, saying who reads it)', () => {
    // A field here: make the rollout carry it out (and read it there), or remove it from the format with a clear
    // validation error; only documentation by design goes into READ_ELSEWHERE, with who reads it.
    expect(unexplained(fields, reads)).toEqual([]);
  });

  test.each(READ_ELSEWHERE.map((entry) => [entry.what, entry] as const))('%s: still needed, and read where the list says', (_what, entry) => {
    // The fields the entry explains: those it covers that no counting code reads. None left: the entry must go.
    const explained = unreadFields(fields.filter(entry.fields), reads);
    expect(explained.length).toBeGreaterThan(0);
    if (entry.file) {
      const inFile = loaderReads.filter((r) => r.file === entry.file);
      expect(explained.filter((f) => readersOf(f, inFile).length === 0).map((f) => f.path)).toEqual([]);
    }
  });

  test('a field added to the schema that nothing reads is reported, even when its name is read elsewhere', () => {
    const schema = planSchema();
    const properties = (node: unknown) => (node as { properties: Record<string, unknown> }).properties;
    // A new top-level setting; a new phase setting; `name` (read everywhere) added to the evidence settings; a new
    // email setting beside the ones the email channel reads.
    properties(schema).rolloutNotes = { type: 'string' };
    properties((properties(schema).phases as { items: unknown }).items).retries = { type: 'integer' };
    const evidence = properties(schema).evidence as { properties: Record<string, unknown> };
    evidence.properties.name = { type: 'string' };
    const channels = properties(schema).channels as { additionalProperties: { anyOf: JsonSchema[] } };
    const email = channels.additionalProperties.anyOf.find((form) => (properties(form).type as { const?: string }).const === 'email');
    properties(email).cc = { type: 'array', items: { type: 'string' } };

    const reported = unexplained(schemaFields(schema), reads);
    expect([...reported].sort()).toEqual(
      ['rolloutNotes', 'phases[].retries', 'evidence.name', 'channels.*<email>.cc']
        .map((path) => `${path}: accepted, and nothing outside the format, the loader and validation reads it`)
        .sort(),
    );
  });
});

describe('what counts as reading a field', () => {
  // A small format and two files that use it, given to the type checker as text.
  const Settings = z.strictObject({
    name: z.string(),
    retention: z.number().optional(),
    archive: z.string().optional(),
    window: z.strictObject({ from: z.string(), days: z.array(z.string()).optional() }).optional(),
  });
  const SETTINGS_TS = `import { z } from 'zod';
export const Settings = z.strictObject({
  name: z.string(),
  retention: z.number().optional(),
  archive: z.string().optional(),
  window: z.strictObject({ from: z.string(), days: z.array(z.string()).optional() }).optional(),
});
export type Settings = z.infer<typeof Settings>;
`;
  const DIR = 'test/plan/__virtual__';
  const settingsFields = () => schemaFields(z.toJSONSchema(Settings, { io: 'input' }) as JsonSchema);
  const unreadWith = (consumer: string) => {
    const found = collectReads({
      root: ROOT,
      files: [`${DIR}/consumer.ts`],
      schemaFiles: [`${DIR}/settings.ts`],
      virtualFiles: { [`${DIR}/settings.ts`]: SETTINGS_TS, [`${DIR}/consumer.ts`]: consumer },
    });
    return unreadFields(settingsFields(), found).map((f) => f.path);
  };

  test('a name in a comment, in a string, or as a property of another object is no read', () => {
    expect(
      unreadWith(`import type { Settings } from './settings';
// settings.retention and settings.archive are read here (a comment is not code)
export const label = 'retention archive window.days';
const other = { retention: 3, archive: 'x', window: { from: 'a', days: [] as string[] } };
export const n = other.retention + other.archive.length + other.window.days.length + other.window.from.length;
export function show(s: Settings): string { return s.name; }
`),
    ).toEqual(['retention', 'archive', 'window', 'window.from', 'window.days']);
  }, 60_000);

  test('reads through the format\'s types count, and so do reads through a type of the code\'s own that a value flows into', () => {
    expect(
      unreadWith(`import type { Settings } from './settings';
interface WindowSpec { from: string; days?: string[] }
const open = (w: WindowSpec): boolean => (w.days ?? []).length > 0;
export function use(s: Settings): number {
  const { archive } = s;
  return (s.retention ?? 0) + (archive?.length ?? 0) + (s.window && open(s.window) ? 1 : 0) + s['name'].length;
}
`),
    ).toEqual(['window.from']);
  }, 60_000);
});
