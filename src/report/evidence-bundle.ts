/**
 * Writes a rollout's evidence where its plan says (`evidence` in the plan): the report as Markdown, JSON and HTML in
 * the `bundle` directory, and the ops log as JSON lines in the `opsLog` file. Seed 000: "Store evidence in
 * docs/concierge_v1/evidence/canary_day0/"; "Record each phase change in 'Canary Ops Log' with timestamp, metrics
 * snapshot, … and go/no-go rationale". Relative paths are taken from the directory `canary report` runs in.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Plan } from '../plan/schema';
import type { OpsLogEntry } from '../domain/types';
import { renderEvidenceHtml } from './evidence-html';
import { renderEvidenceMarkdown } from './evidence-markdown';
import { renderEvidenceJson, type EvidenceReport } from './evidence-report';

export type EvidenceSettings = NonNullable<Plan['evidence']>;

/** A rollout id as a file name: letters, digits, `.`, `_` and `-` kept, anything else (`:`, `/`) becomes `_`. */
export function fileNameOf(rolloutId: string): string {
  return rolloutId.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** One ops-log line as JSON: the rollout, the time in ISO 8601, then the entry as the machine recorded it. */
export function opsLogLine(rolloutId: string, entry: OpsLogEntry): string {
  return JSON.stringify({ rolloutId, time: new Date(entry.at).toISOString(), ...entry });
}

/** Writes what `evidence` names; returns the files written. */
export async function writeEvidenceBundle(report: EvidenceReport, opsLog: OpsLogEntry[], evidence: EvidenceSettings): Promise<string[]> {
  const written: string[] = [];
  const write = async (file: string, text: string) => {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
    written.push(file);
  };
  if (evidence.bundle) {
    const base = join(evidence.bundle, fileNameOf(report.rolloutId));
    await write(`${base}.md`, renderEvidenceMarkdown(report));
    await write(`${base}.json`, renderEvidenceJson(report));
    await write(`${base}.html`, renderEvidenceHtml(report));
  }
  if (evidence.opsLog) await write(evidence.opsLog, opsLog.map((e) => `${opsLogLine(report.rolloutId, e)}\n`).join(''));
  return written;
}
