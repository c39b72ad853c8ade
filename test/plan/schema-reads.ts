/**
 * "Nothing in the schema is accepted and then ignored": the tools of test/plan/schema-walk.test.ts.
 *
 * - {@link schemaFields} walks a plan JSON Schema (as `canary schema` prints it) and lists every property at every
 *   path, each with the names of its sibling properties: the shape of the object it belongs to.
 * - {@link collectReads} finds, with the TypeScript type checker, every place in a set of source files where a
 *   property of the plan is read: `x.name`, `x['name']`, `const { name } = x`, `'name' in x`. A read counts only when
 *   the checker resolves the property to its declaration in the plan schema (what `z.infer` types link back to), so
 *   a name in a comment or a string, or a property of some other object that happens to share the name, is no read.
 *   A plan value handed to a type of the code's own — an argument of an interface type (calendar.ts's
 *   `TimeWindowSpec { days, from, to }`), a typed variable, a returned or assigned value, a cast — carries its
 *   properties over: reading `w.days` of that interface is reading the plan's `days`.
 * - {@link unreadFields} matches the two. A read stands for the field `name` of a schema object when it resolves to a
 *   property `name` of a zod object whose properties all belong to that schema object (a spread such as `...Sustain`
 *   is an object of its own). A read of `phase.name` therefore says nothing about `evidence.name`, and `state.opsLog`
 *   (a RolloutState, which no plan value flows into) says nothing about `evidence.opsLog`.
 */
import { relative, resolve } from 'node:path';
import * as ts from 'typescript';

/** A JSON Schema as `z.toJSONSchema` emits it: objects, arrays, records, unions and `$ref`s into `$defs`. */
export type JsonSchema = { [key: string]: unknown };

/** One property of one object of the plan format. */
export interface SchemaField {
  /** Where it is, e.g. `channels.*<email>.smtpUrlEnv`, `phases[].gates[].when<threshold>.window`. */
  path: string;
  /** The property's name: the last step of the path. */
  name: string;
  /** Every property of the object it belongs to, itself included. */
  siblings: readonly string[];
  /** The property's own JSON Schema (a `$ref` resolved), e.g. for its `description`. */
  schema: JsonSchema;
}

/**
 * Every property at every path of `schema`. Records (`additionalProperties`) are `.*`, list items `[]`, and each form
 * of a union `<value>` after its discriminator's constant (`<email>`) or `<n>` when it has none.
 */
export function schemaFields(schema: JsonSchema): SchemaField[] {
  const defs = (schema.$defs ?? schema.definitions ?? {}) as Record<string, JsonSchema>;
  const fields: SchemaField[] = [];
  const walk = (node: unknown, path: string, refs: ReadonlySet<string>): void => {
    if (!isObject(node)) return;
    const ref = node.$ref;
    if (typeof ref === 'string') {
      const name = ref.replace(/^#\/(\$defs|definitions)\//, '');
      const target = defs[name];
      if (!target) throw new Error(`${path || '(root)'}: unresolved $ref ${ref}`);
      // A recursive definition is walked once along each path.
      if (!refs.has(name)) walk(target, path, new Set([...refs, name]));
      return;
    }
    for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
      const forms = node[key];
      if (!Array.isArray(forms)) continue;
      forms.forEach((form, index) => walk(form, `${path}<${discriminatorOf(form, defs) ?? index}>`, refs));
    }
    const properties = node.properties;
    if (isObject(properties)) {
      const siblings = Object.keys(properties);
      for (const name of siblings) {
        const at = path ? `${path}.${name}` : name;
        fields.push({ path: at, name, siblings, schema: resolveRef(properties[name], defs) });
        walk(properties[name], at, refs);
      }
    }
    if (isObject(node.additionalProperties)) walk(node.additionalProperties, `${path}.*`, refs);
    if (node.items !== undefined) {
      for (const item of Array.isArray(node.items) ? node.items : [node.items]) walk(item, `${path}[]`, refs);
    }
  };
  walk(schema, '', new Set());
  return fields;
}

/** A union's form by its discriminator's constant (`email`), else by its properties (`{capture}`). */
function discriminatorOf(form: unknown, defs: Record<string, JsonSchema>): string | undefined {
  const resolved = resolveRef(form, defs);
  if (!isObject(resolved.properties)) return undefined;
  for (const property of Object.values(resolved.properties)) {
    if (isObject(property) && typeof property.const === 'string') return property.const;
  }
  return `{${Object.keys(resolved.properties).join(',')}}`;
}

function resolveRef(node: unknown, defs: Record<string, JsonSchema>): JsonSchema {
  if (!isObject(node)) return {};
  if (typeof node.$ref !== 'string') return node;
  const target = defs[node.$ref.replace(/^#\/(\$defs|definitions)\//, '')];
  // `description` and other keywords may sit beside the $ref.
  return { ...(target ?? {}), ...node };
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One read of a plan property, resolved by the type checker to the zod object that declares it. */
export interface FieldRead {
  name: string;
  /** The properties of the zod object the read property is declared in (its shape's keys). */
  shape: readonly string[];
  /** Through the plan's own types (`z.infer`), or through a type of the code's own that a plan value flows into. */
  via: 'plan-types' | 'own-type';
  /** Relative to the project root. */
  file: string;
  line: number;
}

export interface CollectReadsOptions {
  /** The project root: tsconfig.json's compiler options are used, and files are reported relative to it. */
  root: string;
  /** The files to look for reads in (absolute or relative to the root). */
  files: readonly string[];
  /** The files that define the plan format with zod (absolute or relative to the root); the first is its entry. */
  schemaFiles: readonly string[];
  /** Files given by their text instead of the disk (tests of the walker itself); absolute or relative to the root. */
  virtualFiles?: Readonly<Record<string, string>>;
}

/**
 * Every read of a plan property in `files` (see the module comment). Reads inside the schema file are never
 * collected.
 */
export function collectReads(options: CollectReadsOptions): FieldRead[] {
  const root = resolve(options.root);
  const abs = (file: string) => resolve(root, file);
  const schemaFiles = new Set(options.schemaFiles.map(abs));
  const isSchema = (file: string) => schemaFiles.has(resolve(file));
  const virtual = new Map(Object.entries(options.virtualFiles ?? {}).map(([file, text]) => [abs(file), text]));
  const config = ts.getParsedCommandLineOfConfigFile(abs('tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (!config) throw new Error(`cannot read ${abs('tsconfig.json')}`);
  const host = ts.createCompilerHost(config.options, true);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (file) => virtual.get(resolve(file)) ?? readFile(file);
  host.fileExists = (file) => virtual.has(resolve(file)) || fileExists(file);
  const directoryExists = host.directoryExists?.bind(host);
  host.directoryExists = (dir) => [...virtual.keys()].some((file) => file.startsWith(`${resolve(dir)}/`)) || (directoryExists?.(dir) ?? true);
  host.getSourceFile = (file, language, onError, create) => {
    const text = virtual.get(resolve(file));
    return text === undefined ? getSourceFile(file, language, onError, create) : ts.createSourceFile(file, text, language, true);
  };
  const wanted = new Set(options.files.map(abs));
  const program = ts.createProgram({ rootNames: [...new Set([...wanted, ...schemaFiles])], options: { ...config.options, noEmit: true }, host });
  const checker = program.getTypeChecker();
  const sources = program.getSourceFiles().filter((s) => wanted.has(resolve(s.fileName)) && !isSchema(s.fileName));

  const inSchema = (d: ts.Declaration) => isSchema(d.getSourceFile().fileName);
  const inProject = (d: ts.Declaration) => !d.getSourceFile().fileName.includes('/node_modules/') && !d.getSourceFile().isDeclarationFile;
  /** Declarations of the code's own types → the plan schema declarations whose values flow into them. */
  const links = new Map<ts.Declaration, Set<ts.Declaration>>();
  /** The plan schema declarations a declaration stands for: itself, or what flows into it. */
  const planDeclarations = (declarations: readonly ts.Declaration[]): ts.Declaration[] =>
    declarations.flatMap((d) => (inSchema(d) ? [d] : [...(links.get(d) ?? [])]));
  /** The property `name` of `type` in each of its forms (a union's property need not be in every form). */
  const propertyDeclarations = (type: ts.Type, name: string): ts.Declaration[] =>
    formsOf(type).flatMap((form) => checker.getPropertyOfType(form, name)?.declarations ?? []);
  const formsOf = (type: ts.Type): ts.Type[] => (type.isUnion() ? type.types : [type]).map((t) => checker.getNonNullableType(t));

  /**
   * A value of type `from` goes where `to` is expected: each property of `to` declared by the code's own types stands
   * for the same property of `from`, and so on into their properties and list items.
   */
  const done = new Map<ts.Type, Set<ts.Type>>();
  const flow = (to: ts.Type, from: ts.Type, at: ts.Node, depth = 0): void => {
    if (depth > 6) return;
    const pairs = done.get(to) ?? new Set();
    if (pairs.has(from)) return;
    pairs.add(from);
    done.set(to, pairs);
    for (const form of formsOf(to)) {
      if (checker.isArrayType(form)) {
        const items = [from, ...formsOf(from)].map((f) => f.getNumberIndexType()).filter((t): t is ts.Type => t !== undefined);
        const item = form.getNumberIndexType();
        if (item) items.forEach((source) => flow(item, source, at, depth + 1));
        continue;
      }
      for (const property of checker.getPropertiesOfType(form)) {
        const own = (property.declarations ?? []).filter((d) => !inSchema(d) && inProject(d));
        if (own.length === 0) continue;
        const fromDeclarations = planDeclarations(propertyDeclarations(from, property.name));
        if (fromDeclarations.length === 0) continue;
        for (const declaration of own) {
          const set = links.get(declaration) ?? new Set();
          fromDeclarations.forEach((d) => set.add(d));
          links.set(declaration, set);
        }
        const fromProperty = formsOf(from)
          .map((f) => checker.getPropertyOfType(f, property.name))
          .filter((p): p is ts.Symbol => p !== undefined);
        for (const source of fromProperty) flow(checker.getTypeOfSymbolAtLocation(property, at), checker.getTypeOfSymbolAtLocation(source, at), at, depth + 1);
      }
    }
  };
  const flowInto = (expression: ts.Expression) => {
    const to = checker.getContextualType(expression);
    if (to) flow(to, checker.getTypeAtLocation(expression), expression);
  };
  // First where plan values flow into the code's own types (a read may come before the code that makes it one).
  for (const source of sources) {
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) || ts.isNewExpression(node)) node.arguments?.forEach(flowInto);
      else if (ts.isVariableDeclaration(node) && node.type && node.initializer) flowInto(node.initializer);
      else if (ts.isReturnStatement(node) && node.expression) flowInto(node.expression);
      else if (ts.isPropertyAssignment(node)) flowInto(node.initializer);
      else if (ts.isAsExpression(node) || ts.isTypeAssertionExpression(node) || ts.isSatisfiesExpression(node)) {
        flow(checker.getTypeAtLocation(node.type), checker.getTypeAtLocation(node.expression), node);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }

  const reads: FieldRead[] = [];
  const record = (name: string, declarations: readonly ts.Declaration[] | undefined, at: ts.Node) => {
    const source = at.getSourceFile();
    for (const declaration of declarations ?? []) {
      const own = !inSchema(declaration);
      for (const planDeclaration of planDeclarations([declaration])) {
        const shape = shapeOf(planDeclaration);
        if (!shape) continue;
        reads.push({
          name,
          shape,
          via: own ? 'own-type' : 'plan-types',
          file: relative(root, source.fileName),
          line: source.getLineAndCharacterOfPosition(at.getStart(source)).line + 1,
        });
      }
    }
  };
  for (const source of sources) {
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.name)) {
        record(node.name.text, checker.getSymbolAtLocation(node.name)?.declarations, node.name);
      } else if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) {
        const name = node.argumentExpression.text;
        record(name, propertyDeclarations(checker.getTypeAtLocation(node.expression), name), node.argumentExpression);
      } else if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent) && !node.dotDotDotToken) {
        const key = node.propertyName ?? node.name;
        const name = ts.isIdentifier(key) || ts.isStringLiteralLike(key) ? key.text : undefined;
        if (name !== undefined) record(name, propertyDeclarations(checker.getTypeAtLocation(node.parent), name), key);
      } else if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.InKeyword && ts.isStringLiteralLike(node.left)) {
        const name = node.left.text;
        record(name, propertyDeclarations(checker.getTypeAtLocation(node.right), name), node.left);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return reads;
}

/**
 * The property names of the zod shape that declares `declaration`: the keys of its object literal (a spread such as
 * `...Sustain` has its own literal). Undefined for anything else in the schema file.
 */
function shapeOf(declaration: ts.Declaration): string[] | undefined {
  const parent = declaration.parent;
  if (!(ts.isPropertyAssignment(declaration) || ts.isShorthandPropertyAssignment(declaration)) || !ts.isObjectLiteralExpression(parent)) return undefined;
  return parent.properties.flatMap((p) => (p.name && (ts.isIdentifier(p.name) || ts.isStringLiteralLike(p.name)) ? [p.name.text] : []));
}

/**
 * The fields no read stands for. A read stands for a field when it has the field's name and every property of the
 * object that declares it is a sibling of the field (see the module comment).
 */
export function unreadFields(fields: readonly SchemaField[], reads: readonly FieldRead[]): SchemaField[] {
  const byName = new Map<string, FieldRead[]>();
  for (const read of reads) byName.set(read.name, [...(byName.get(read.name) ?? []), read]);
  return fields.filter((field) => !readersOf(field, byName.get(field.name) ?? []).length);
}

/** The reads that stand for `field`. */
export function readersOf(field: SchemaField, reads: readonly FieldRead[]): FieldRead[] {
  const siblings = new Set(field.siblings);
  return reads.filter((read) => read.name === field.name && read.shape.every((key) => siblings.has(key)));
}
