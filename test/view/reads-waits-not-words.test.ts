/**
 * Readers of a rollout's status read its waits as data, never its sentences: rewording a wait (in `describeWait`)
 * must not silently break `canary watch`, the demo's approver, the report or the workflow. This test reads their
 * source and fails on code that searches, matches or rewrites the machine's words.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const READERS = ['src/view', 'src/report', 'src/workflows', 'src/cli/commands/watch.ts', 'src/demo/run-demo.ts'];

/** Words of the machine's waits (and its ops-log sentences) that only a parser of its prose would look for. */
const PROSE = String.raw`(approval by|to be consumed|rejected by|HOLD|change window|minimum duration| left|to go through|a decision on the hold|paused by|providers to answer|required task|refused)`;

/** What reading the words looks like, each with what it is. */
const PATTERNS: Array<{ what: string; pattern: RegExp }> = [
  { what: 'iterates, searches or rewrites `waitingFor` (read `waits`)', pattern: /\.waitingFor\s*(\?\.|\.)\s*(some|find|findIndex|filter|map|flatMap|every|includes|indexOf|join|forEach|reduce)\s*\(/ },
  { what: 'loops over `waitingFor` (read `waits`)', pattern: /\bof\s+[\w.?]*\bwaitingFor\b/ },
  { what: 'a regular expression over machine prose', pattern: new RegExp(String.raw`/[^/\n]*${PROSE}[^/\n]*/[dgimsuy]*\s*(\.(exec|test)\(|[,)])`) },
  { what: 'startsWith on a wait sentence', pattern: /\.startsWith\(\s*['"`](token|approval|gate|minimum|entry|until|precondition|required|flag write|providers|the next allowed|resume|a decision)/ },
  { what: 'includes on machine prose', pattern: new RegExp(String.raw`\.includes\(\s*['"\`]${PROSE}`) },
  { what: 'rewrites or matches an ops-log reason or rationale', pattern: /\.(reason|rationale)\s*\.\s*(replace|replaceAll|match|matchAll|split|startsWith|endsWith|includes|indexOf|search)\s*\(/ },
  { what: 'runs a regular expression over an ops-log reason or rationale', pattern: /\.(exec|test)\(\s*[\w.?]*\.(reason|rationale)\s*\)/ },
];

/**
 * Known readers of ops-log prose that are not waits. Refusals and approvals are data now (`refusal`, `approval` on
 * the entry), so there are none; an entry here names the file, the exact code and why.
 */
const NOT_WAITS: Array<{ file: string; code: string; why: string }> = [];

function files(path: string): string[] {
  const full = join(ROOT, path);
  if (statSync(full).isFile()) return [full];
  return readdirSync(full).flatMap((name) => files(join(path, name)));
}

/** The code without comments: prose in TSDoc may quote the sentences it describes. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
}

function offences(source: string, file: string): string[] {
  const found: string[] = [];
  code(source)
    .split('\n')
    .forEach((line) => {
      if (NOT_WAITS.some((n) => n.file === file && line.includes(n.code))) return;
      for (const { what, pattern } of PATTERNS) if (pattern.test(line)) found.push(`${file}: ${what}: ${line.trim()}`);
    });
  return found;
}

describe('readers of a rollout read its waits, not its words', () => {
  const sources = READERS.flatMap(files).filter((f) => f.endsWith('.ts'));

  it('reads every reader it names', () => {
    expect(sources.length).toBeGreaterThanOrEqual(10);
    expect(sources.map((f) => relative(ROOT, f))).toEqual(expect.arrayContaining(['src/view/progress.ts', 'src/cli/commands/watch.ts', 'src/demo/run-demo.ts', 'src/workflows/rollout.ts']));
  });

  it.each(READERS)('%s has no regex, includes or startsWith over the machine\'s sentences', (reader) => {
    const found = files(reader)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => offences(readFileSync(f, 'utf8'), relative(ROOT, f)));
    expect(found).toEqual([]);
  });

  // The patterns catch the code this replaced, so a pattern that never matches cannot pass for a clean tree.
  it.each([
    ["const waits = view.waitingFor.map((w) => w.replace(/ \\([^()]* left[^()]*\\)/g, ''));"],
    ['const match = /^approval by (\\S+) \\(\\d+ of \\d+\\)/.exec(reason);'],
    ['const match = /^token (\\S+) to be consumed by (\\S+)/.exec(reason);'],
    ['for (const reason of view.waitingFor) {'],
    ["if (index === 0 || unmet.some((u) => u.startsWith('token'))) this.setStatus('waiting');"],
    ["const holds = (list: string[]) => list.filter((r) => r.includes('HOLD')).join('; ');"],
    ["if (next?.calendar?.allowedWindows && s.waitingFor.some((w) => w.includes('change window'))) {"],
    ["const why = entry.reason.match(/refused: (.*)/);"],
  ])('catches %s', (line) => {
    expect(offences(line, 'example.ts')).not.toEqual([]);
  });
});
