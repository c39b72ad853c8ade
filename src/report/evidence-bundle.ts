/**
 * Writes a rollout's evidence where its plan says (`evidence` in the plan): the report as Markdown, JSON and HTML in
 * the `bundle` directory, and the ops log as JSON lines in the `opsLog` file. Seed 000: "Store evidence in
 * docs/concierge_v1/evidence/canary_day0/"; "Record each phase change in 'Canary Ops Log' with timestamp, metrics
 * snapshot, … and go/no-go rationale".
 *
 * The paths come from the plan the rollout started with — from whoever started it — so they are confined: relative
 * paths only, resolved against a root the person running `canary report --bundle` chooses (the current directory by
 * default), never leaving it, never through a symbolic link, and never over another rollout's ops log.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { OpsLogEntry } from '../domain/types';
import type { Plan } from '../plan/schema';
import { renderEvidenceHtml } from './evidence-html';
import { renderEvidenceMarkdown } from './evidence-markdown';
import { renderEvidenceJson, type EvidenceReport } from './evidence-report';

export type EvidenceSettings = NonNullable<Plan['evidence']>;

/** A bundle path the plan names that cannot be written: which field, what, and why. */
export class EvidencePathRefused extends Error {}

/**
 * A rollout id as a file name: letters, digits, `.`, `_` and `-` kept, anything else (`:`, `/`) becomes `_`, and a
 * short hash of the id so that two ids never share a file ("rollout:a:b" and "rollout_a_b").
 */
export function fileNameOf(rolloutId: string): string {
  const readable = rolloutId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return `${readable}-${createHash('sha256').update(rolloutId).digest('hex').slice(0, 8)}`;
}

/** One ops-log line as JSON: the rollout, the time in ISO 8601, then the entry as the machine recorded it. */
function opsLogLine(rolloutId: string, entry: OpsLogEntry): string {
  return JSON.stringify({ rolloutId, time: new Date(entry.at).toISOString(), ...entry });
}

/** `path` (from the plan's `field`) inside `root`, or a refusal naming the field. */
function confined(root: string, field: string, path: string): string {
  if (isAbsolute(path)) throw new EvidencePathRefused(`${field} "${path}" is absolute: evidence paths are relative to the directory the report is written from (${root})`);
  const full = resolve(root, path);
  const within = relative(root, full);
  if (within === '..' || within.startsWith(`..${sep}`) || isAbsolute(within)) throw new EvidencePathRefused(`${field} "${path}" leaves ${root}`);
  return full;
}

/** Refuses a path whose existing parts (below root) include a symbolic link. */
async function noLinks(root: string, field: string, full: string): Promise<void> {
  let at = root;
  for (const part of relative(root, full).split(sep)) {
    at = join(at, part);
    const stat = await lstat(at).catch(() => undefined);
    if (!stat) return;
    if (stat.isSymbolicLink()) throw new EvidencePathRefused(`${field}: ${at} is a symbolic link; evidence is not written through links`);
  }
}

/** Writes what `evidence` names under `root` (default: the current directory); returns the files written. */
export async function writeEvidenceBundle(report: EvidenceReport, opsLog: OpsLogEntry[], evidence: EvidenceSettings, root = process.cwd()): Promise<string[]> {
  const base = resolve(root);
  const files: Array<{ field: string; file: string; text: string }> = [];
  if (evidence.bundle) {
    const dir = confined(base, 'evidence.bundle', evidence.bundle);
    const name = join(dir, fileNameOf(report.rolloutId));
    files.push({ field: 'evidence.bundle', file: `${name}.md`, text: renderEvidenceMarkdown(report) });
    files.push({ field: 'evidence.bundle', file: `${name}.json`, text: renderEvidenceJson(report) });
    files.push({ field: 'evidence.bundle', file: `${name}.html`, text: renderEvidenceHtml(report) });
  }
  if (evidence.opsLog) {
    const file = confined(base, 'evidence.opsLog', evidence.opsLog);
    // One rollout's log per file: a file that holds another rollout's log is not overwritten.
    const first = (await readFile(file, 'utf8').catch(() => '')).split('\n', 1)[0];
    const holder = first ? (JSON.parse(first) as { rolloutId?: unknown }).rolloutId : undefined;
    if (holder !== undefined && holder !== report.rolloutId) throw new EvidencePathRefused(`evidence.opsLog ${file} holds the ops log of rollout ${String(holder)}; not overwritten`);
    files.push({ field: 'evidence.opsLog', file, text: opsLog.map((e) => `${opsLogLine(report.rolloutId, e)}\n`).join('') });
  }
  for (const { field, file } of files) await noLinks(base, field, file);
  for (const { file, text } of files) {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  return files.map((f) => f.file);
}
