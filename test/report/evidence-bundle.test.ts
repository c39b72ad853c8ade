import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpsLogEntry, RolloutResult } from '../../src/domain/types';
import { fileNameOf, writeEvidenceBundle } from '../../src/report/evidence-bundle';
import { buildEvidenceReport } from '../../src/report/evidence-report';

const at = (minute: number) => Date.UTC(2026, 0, 14, 8, minute);
const opsLog: OpsLogEntry[] = [
  { at: at(0), phase: 'before-start', percent: 0, action: 'start', reason: 'rollout of checkout-v2 in prod started' },
  { at: at(1), phase: 'canary-10', percent: 10, action: 'enter-phase', reason: 'entered canary-10 at 10% (from 0%): preconditions hold', metrics: { error_rate: 0.002 } },
  { at: at(40), phase: 'full', percent: 100, action: 'complete', reason: 'rollout complete at 100%' },
];
const result: RolloutResult = {
  outcome: 'completed',
  finalPercent: 100,
  phase: 'full',
  decisions: opsLog.map(({ at: when, phase, action, reason }) => ({ at: when, time: new Date(when).toISOString(), phase, action, reason })),
  opsLog,
};
const report = buildEvidenceReport({ rolloutId: 'rollout:checkout-v2:prod', running: false, result, generatedAt: at(41) });

describe("the evidence bundle, written where the plan's evidence settings say (seed 000: Store evidence in …)", () => {
  it('writes the report as Markdown, JSON and HTML in the bundle directory, named after the rollout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-bundle-'));
    const bundle = join(dir, 'docs', 'evidence', 'canary_day0');
    const files = await writeEvidenceBundle(report, opsLog, { bundle });
    const base = join(bundle, 'rollout_checkout-v2_prod');
    expect(files).toEqual([`${base}.md`, `${base}.json`, `${base}.html`]);
    expect(readdirSync(bundle).sort()).toEqual(['rollout_checkout-v2_prod.html', 'rollout_checkout-v2_prod.json', 'rollout_checkout-v2_prod.md']);
    expect(readFileSync(`${base}.md`, 'utf8')).toContain('## Phase changes');
    expect(JSON.parse(readFileSync(`${base}.json`, 'utf8'))).toMatchObject({ rolloutId: 'rollout:checkout-v2:prod', summary: { outcome: 'completed' } });
    expect(readFileSync(`${base}.html`, 'utf8').startsWith('<!doctype html>')).toBe(true);
  });

  it('writes the ops log as JSON lines, each with the rollout, its ISO time and the entry with its metrics', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'canary-opslog-')), 'logs', 'canary-ops-log.jsonl');
    expect(await writeEvidenceBundle(report, opsLog, { opsLog: file })).toEqual([file]);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toEqual({ rolloutId: 'rollout:checkout-v2:prod', time: '2026-01-14T08:01:00.000Z', ...opsLog[1] });
  });

  it('writes nothing the settings do not name', async () => {
    expect(await writeEvidenceBundle(report, opsLog, {})).toEqual([]);
  });

  it('turns a rollout id into a file name without separators', () => {
    expect(fileNameOf('rollout:a/b\\c d')).toBe('rollout_a_b_c_d');
  });
});
