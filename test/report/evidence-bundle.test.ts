import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpsLogEntry, RolloutResult } from '../../src/domain/types';
import { EvidencePathRefused, fileNameOf, writeEvidenceBundle } from '../../src/report/evidence-bundle';
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
const reportOf = (rolloutId: string) => buildEvidenceReport({ rolloutId, running: false, result, generatedAt: at(41) });
const report = reportOf('rollout:checkout-v2:prod');
const root = () => mkdtempSync(join(tmpdir(), 'canary-bundle-'));

describe("the evidence bundle, written where the plan's evidence settings say (seed 000: Store evidence in …)", () => {
  it('writes the report as Markdown, JSON and HTML in the bundle directory, named after the rollout', async () => {
    const dir = root();
    const files = await writeEvidenceBundle(report, opsLog, { bundle: 'docs/evidence/canary_day0/' }, dir);
    const base = join(dir, 'docs', 'evidence', 'canary_day0', fileNameOf('rollout:checkout-v2:prod'));
    expect(files).toEqual([`${base}.md`, `${base}.json`, `${base}.html`]);
    expect(readdirSync(join(dir, 'docs', 'evidence', 'canary_day0')).sort()).toHaveLength(3);
    expect(readFileSync(`${base}.md`, 'utf8')).toContain('## Phase changes');
    expect(JSON.parse(readFileSync(`${base}.json`, 'utf8'))).toMatchObject({ rolloutId: 'rollout:checkout-v2:prod', summary: { outcome: 'completed' } });
    expect(readFileSync(`${base}.html`, 'utf8').startsWith('<!doctype html>')).toBe(true);
  });

  it('writes the ops log as JSON lines, each with the rollout, its ISO time and the entry with its metrics', async () => {
    const dir = root();
    const file = join(dir, 'logs', 'canary-ops-log.jsonl');
    expect(await writeEvidenceBundle(report, opsLog, { opsLog: 'logs/canary-ops-log.jsonl' }, dir)).toEqual([file]);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toEqual({ rolloutId: 'rollout:checkout-v2:prod', time: '2026-01-14T08:01:00.000Z', ...opsLog[1] });
    // Written again for the same rollout (a later report), it is replaced.
    expect(await writeEvidenceBundle(report, opsLog.slice(0, 1), { opsLog: 'logs/canary-ops-log.jsonl' }, dir)).toEqual([file]);
    expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(1);
  });

  it('writes nothing the settings do not name', async () => {
    expect(await writeEvidenceBundle(report, opsLog, {}, root())).toEqual([]);
  });

  it('names files after the rollout without separators, and never the same name for two ids', () => {
    expect(fileNameOf('rollout:a/b\\c d')).toMatch(/^rollout_a_b_c_d-[0-9a-f]{8}$/);
    expect(fileNameOf('rollout:a:b')).not.toBe(fileNameOf('rollout_a_b'));
    expect(fileNameOf('..')).toMatch(/^_-[0-9a-f]{8}$/);
  });
});

describe('evidence paths come from whoever started the rollout: they stay where the reader chose', () => {
  it.each([
    ['an absolute opsLog', { opsLog: '/etc/passwd' }, /evidence\.opsLog "\/etc\/passwd" is absolute/],
    ['an opsLog that climbs out', { opsLog: '../home/.ssh/authorized_keys' }, /evidence\.opsLog "\.\.\/home\/\.ssh\/authorized_keys" leaves /],
    ['a bundle that climbs out', { bundle: 'evidence/../../elsewhere' }, /evidence\.bundle "evidence\/\.\.\/\.\.\/elsewhere" leaves /],
  ])('refuses %s, writing nothing', async (_what, evidence, message) => {
    const dir = root();
    await expect(writeEvidenceBundle(report, opsLog, evidence, dir)).rejects.toThrow(message);
    await expect(writeEvidenceBundle(report, opsLog, evidence, dir)).rejects.toBeInstanceOf(EvidencePathRefused);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses to write through a symbolic link', async () => {
    const dir = root();
    const outside = root();
    symlinkSync(outside, join(dir, 'evidence'));
    await expect(writeEvidenceBundle(report, opsLog, { bundle: 'evidence/day0' }, dir)).rejects.toThrow(/is a symbolic link/);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("does not overwrite another rollout's ops log", async () => {
    const dir = root();
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'ops.jsonl'), '{"rolloutId":"rollout:other:prod","action":"start"}\n');
    await expect(writeEvidenceBundle(report, opsLog, { opsLog: 'logs/ops.jsonl' }, dir)).rejects.toThrow(/holds the ops log of rollout rollout:other:prod/);
    expect(readFileSync(join(dir, 'logs', 'ops.jsonl'), 'utf8')).toContain('rollout:other:prod');
  });
});
