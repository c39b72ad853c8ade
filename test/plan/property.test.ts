/**
 * Whatever text it is given, loading a plan never throws: it returns a plan, or issues that each say something and
 * name a path (possibly the empty path of the whole document).
 */
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { parsePlanText, type PlanLoadResult } from '../../src/plan/load';

const VALID = `apiVersion: canary/v1
id: demo
name: Demo rollout
target: { flags: [checkout.v2], provider: flagd, environment: prod }
providers:
  metrics:
    prom: { type: prometheus, url: "http://prometheus:9090" }
  flags:
    flagd: { type: flagd-file, path: .canary/flags.json }
metrics:
  p95_latency_ms: { source: prom, query: "p95", unit: ms }
  error_rate: { source: prom, query: "errors" }
roles:
  ceo: { members: [ceo@example.com], signatureRequired: true }
channels:
  releases: { type: slack, webhookUrlEnv: SLACK_WEBHOOK_URL }
checks:
  - name: shadow-pass
    when: { kind: value, name: SHADOW_PASS_24H, equals: 1 }
tokens:
  - { id: T-1, role: ceo, requires: [shadow-pass] }
gates:
  - name: latency
    when: { kind: threshold, metric: p95_latency_ms, op: "<=", value: 500, window: 5m, consecutiveWindows: 3 }
triggers:
  - name: sev1
    when: { kind: incidents, atLeast: { sev1: 1 } }
    action: rollback
    notify: [releases]
  - name: sev2
    when: { kind: incidents, atLeast: { sev2: 2 } }
    action: hold
    hold: { decidedBy: [ceo], timeout: 4h, default: rollback }
budgets:
  - { name: canary, phases: [canary], limit: 300, cosign: { role: ceo } }
phases:
  - name: canary
    percent: 5
    minDuration: 6h
    approvals: [{ role: ceo, expiresAfter: 24h }]
    tasks:
      - { name: snapshot, on: every, every: 15m, run: { type: snapshot } }
    calendar: { endOfDay: "18:00", allowedWindows: [{ days: [mon], from: "09:00", to: "17:00" }] }
  - name: full
    percent: 100
afterFull:
  stabilization: { duration: 7d, minDuration: 24h }
  refreeze: [{ name: tag, run: { type: command, command: "git tag x" } }]
`;

/** The property every load result must have. */
function wellFormed(result: PlanLoadResult): boolean {
  if (result.ok) return typeof result.plan === 'object';
  return (
    result.issues.length > 0 &&
    result.issues.every(
      (issue) =>
        typeof issue.message === 'string' &&
        issue.message.length > 0 &&
        typeof issue.path === 'string' &&
        (issue.line === undefined || (Number.isInteger(issue.line) && issue.line >= 1)),
    )
  );
}

type Json = unknown;
type Path = (string | number)[];

/** Every path to a value inside `value`, the root included. */
function pathsOf(value: Json, prefix: Path = []): Path[] {
  const paths: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => paths.push(...pathsOf(item, [...prefix, i])));
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) paths.push(...pathsOf(child, [...prefix, key]));
  }
  return paths;
}

type Mutation =
  | { kind: 'delete' }
  | { kind: 'replace'; value: Json }
  | { kind: 'rename'; name: string }
  | { kind: 'swap-type' };

/** Applies `mutation` at `path` in a copy of `root`. */
function mutate(root: Json, path: Path, mutation: Mutation): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return mutation.kind === 'replace' ? mutation.value : mutation.kind === 'swap-type' ? swapType(copy) : copy;
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const key = path[path.length - 1] as string | number;
  switch (mutation.kind) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 'replace':
      parent[key] = mutation.value;
      break;
    case 'rename':
      if (!Array.isArray(parent)) {
        const value = parent[key];
        delete parent[key];
        parent[mutation.name] = value;
      }
      break;
    case 'swap-type':
      parent[key] = swapType(parent[key]);
      break;
  }
  return copy;
}

/** A value of another type that a careless edit might leave: "5" for 5, [x] for x, {} for a list. */
function swapType(value: Json): Json {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return Number.isNaN(Number(value)) ? [value] : Number(value);
  if (typeof value === 'boolean') return value ? 'yes' : 0;
  if (Array.isArray(value)) return Object.fromEntries(value.map((v, i) => [String(i), v]));
  if (value !== null && typeof value === 'object') return Object.values(value);
  return 'null';
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'delete' }),
  fc.jsonValue({ maxDepth: 2 }).map((value): Mutation => ({ kind: 'replace', value })),
  fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('percent', 'kind', 'name', 'phases', '__proto__', 'constructor')).map(
    (name): Mutation => ({ kind: 'rename', name }),
  ),
  fc.constant<Mutation>({ kind: 'swap-type' }),
);

const YAMLISH_TOKENS = [
  'phases:', 'percent: 10', '- name: a', 'kind: threshold', 'apiVersion: canary/v1', '{', '}', '[', ']', ',', ':', '- ', '  ',
  '\n', '\t', '"', "'", '&a ', '*a', '!!str ', '!!binary ', '? ', '#', '|', '>', '---', '...', '%YAML 1.2', '<<: *a', '~', 'null',
  '1e400', '0x1F', '.inf', '0o7', '@', '`',
];

const yamlish = fc.array(fc.constantFrom(...YAMLISH_TOKENS), { maxLength: 40 }).map((parts) => parts.join(''));

describe('loading never throws', () => {
  test('on random YAML-ish text', () => {
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 })), (text) => {
        expect(wellFormed(parsePlanText(text))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test('on random JSON values, as YAML and as JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        expect(wellFormed(parsePlanText(stringify(value)))).toBe(true);
        expect(wellFormed(parsePlanText(JSON.stringify(value)))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  test('on mutations of a valid plan: deleted keys, random values, renamed keys, swapped types', () => {
    const valid = parsePlanText(VALID);
    expect(valid.ok).toBe(true);
    const root = parse(VALID) as Json;
    const paths = pathsOf(root);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: paths.length - 1 }), mutationArb), { minLength: 1, maxLength: 3 }), (edits) => {
        let plan = root;
        for (const [index, mutation] of edits) {
          const candidates = pathsOf(plan);
          plan = mutate(plan, candidates[index % candidates.length] ?? [], mutation);
        }
        expect(wellFormed(parsePlanText(stringify(plan)))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test('on plans with aliases that expand without bound', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
    expect(wellFormed(parsePlanText(bomb))).toBe(true);
  });
});
