/**
 * The evidence report as pure functions: what it extracts from a rollout's result, and how Markdown and HTML show it
 * without letting anything a person wrote break the document.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpsLogEntry, RolloutResult } from '../../src/domain/types';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { renderEvidenceHtml, escapeHtml } from '../../src/report/evidence-html';
import { renderEvidenceMarkdown } from '../../src/report/evidence-markdown';
import { buildEvidenceReport, renderEvidenceJson, type EvidenceReport } from '../../src/report/evidence-report';
import type { RolloutStatusView } from '../../src/workflows/messages';

const T0 = Date.parse('2026-01-14T08:00:00Z');
const at = (minutes: number) => T0 + minutes * 60_000;

const log: OpsLogEntry[] = [
  { at: at(0), phase: 'before-start', percent: 0, action: 'start', reason: 'rollout of checkout-v2 in prod started: 2 phases, 10% → 100%' },
  { at: at(0), phase: 'canary-10', percent: 10, action: 'enter-phase', reason: 'entered canary-10 at 10% (from 0%): preconditions hold', metrics: { error_rate: 0.002, p95_ms: 420 } },
  { at: at(15), phase: 'canary-10', percent: 10, action: 'snapshot', reason: 'metrics snapshot (every-15m)', metrics: { p95_ms: 431 } },
  { at: at(20), phase: 'canary-10', percent: 10, action: 'refuse', reason: 'approve by cfo mallory@example.com refused: mallory@example.com does not hold the role cfo', actor: 'mallory@example.com' },
  { at: at(30), phase: 'canary-10', percent: 10, action: 'approve', reason: 'cfo cfo@example.com approved phase full (signature verified): numbers | fine: really', actor: 'cfo@example.com', approval: { role: 'cfo', by: 'cfo@example.com', decision: 'approve', subject: 'phase:full', signatureVerified: true, reason: 'numbers | fine: really' } },
  { at: at(31), phase: 'canary-10', percent: 10, action: 'reject', reason: 'sre sre@example.com rejected the hold', actor: 'sre@example.com', approval: { role: 'sre', by: 'sre@example.com', decision: 'reject', subject: 'hold', signatureVerified: false } },
  { at: at(40), phase: 'canary-10', percent: 10, action: 'incident', reason: 'incident INC-7 (P1): checkout errors <script>alert(1)</script>' },
  { at: at(41), phase: 'canary-10', percent: 0, action: 'rollback', reason: 'ROLLBACK: P1 incident; flags to 0%', actor: 'sre@example.com', metrics: { error_rate: 0.061 } },
  { at: at(46), phase: 'canary-10', percent: 0, action: 'rollback-verified', reason: 'metrics back to baseline 5m after rollback (bound 10m)', metrics: { error_rate: 0.002 } },
];

const ended: RolloutResult = {
  outcome: 'rolled_back',
  finalPercent: 0,
  phase: 'canary-10',
  decisions: log.map(({ at: when, phase, action, reason }) => ({ at: when, time: new Date(when).toISOString(), phase, action, reason })),
  opsLog: log,
  rollbackVerified: true,
};

function endedReport(): EvidenceReport {
  return buildEvidenceReport({ rolloutId: 'rollout:checkout-v2:prod', running: false, result: ended, memo: { planId: 'checkout-v2', planName: 'Checkout v2' }, generatedAt: at(60) });
}

describe('buildEvidenceReport', () => {
  test('summarises the final state with start, end and duration from the ops log', () => {
    expect(endedReport().summary).toEqual({
      running: false,
      status: 'rolled_back',
      outcome: 'rolled_back',
      phase: 'canary-10',
      percent: 0,
      startedAt: '2026-01-14T08:00:00.000Z',
      endedAt: '2026-01-14T08:46:00.000Z',
      duration: '46m',
      waits: [],
      waitingFor: [],
      gates: [],
    });
    expect(endedReport().plan).toEqual({ id: 'checkout-v2', name: 'Checkout v2' });
  });

  test('keeps every ops-log entry in the timeline, with the rationale and the metrics behind it', () => {
    const report = endedReport();
    expect(report.timeline).toHaveLength(log.length);
    expect(report.timeline[1]).toEqual({
      at: '2026-01-14T08:00:00.000Z',
      phase: 'canary-10',
      percent: 10,
      action: 'enter-phase',
      rationale: 'entered canary-10 at 10% (from 0%): preconditions hold',
      metrics: { error_rate: 0.002, p95_ms: 420 },
    });
  });

  test('reads approvals from the decision recorded with them, not from their words', () => {
    const reworded = log.map((e) => (e.approval ? { ...e, reason: 'a sentence no reader should parse' } : e));
    const report = buildEvidenceReport({ rolloutId: 'rollout:checkout-v2:prod', running: false, result: { ...ended, opsLog: reworded }, memo: { planId: 'checkout-v2' }, generatedAt: at(60) });
    expect(report.approvals).toEqual(endedReport().approvals);
    expect(report.approvals).toHaveLength(2);
  });

  test('reads approvals and rejections with identity, subject, reason and whether the signature was verified', () => {
    expect(endedReport().approvals).toEqual([
      { at: '2026-01-14T08:30:00.000Z', decision: 'approved', role: 'cfo', by: 'cfo@example.com', subject: 'phase full', reason: 'numbers | fine: really', signatureVerified: true },
      { at: '2026-01-14T08:31:00.000Z', decision: 'rejected', role: 'sre', by: 'sre@example.com', subject: 'the hold', signatureVerified: false },
    ]);
  });

  test('lists refused messages with who sent them, phase changes, snapshots and incidents', () => {
    const report = endedReport();
    expect(report.refused).toEqual([
      { at: '2026-01-14T08:20:00.000Z', phase: 'canary-10', by: 'mallory@example.com', message: 'approve by cfo mallory@example.com refused: mallory@example.com does not hold the role cfo' },
    ]);
    expect(report.phaseChanges.map((e) => e.action)).toEqual(['enter-phase', 'rollback']);
    expect(report.snapshots.map((e) => e.action)).toEqual(['enter-phase', 'snapshot', 'rollback', 'rollback-verified']);
    expect(report.incidents.map((e) => e.rationale)).toEqual(['incident INC-7 (P1): checkout errors <script>alert(1)</script>']);
  });

  test('describes the rollback with who started it, why, and its verification', () => {
    expect(endedReport().rollback).toEqual({
      startedAt: '2026-01-14T08:41:00.000Z',
      rationale: 'ROLLBACK: P1 incident; flags to 0%',
      by: 'sre@example.com',
      verified: true,
      verification: [expect.objectContaining({ action: 'rollback-verified', metrics: { error_rate: 0.002 } })],
    });
  });

  test('a running rollout reports its current status, waits, hold and gates, and no end time', () => {
    const status: RolloutStatusView = {
      rolloutId: 'rollout:checkout-v2:prod',
      planId: 'checkout-v2',
      status: 'holding',
      phase: 'canary-10',
      phaseIndex: 0,
      percent: 10,
      phaseEnteredAt: at(0),
      waits: [{ kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'full', at: 'enter' }],
      waitingFor: ['approval by cfo (0 of 1) to enter full'],
      hold: { reason: 'error_rate >= 2% for 5m', since: at(10), deadline: at(70), decidedBy: ['sre'] },
      gates: [{ name: 'errors-ok', satisfied: false, detail: 'error_rate = 0.03 (condition < 0.01)' }],
      opsLog: [],
    };
    const report = buildEvidenceReport({
      rolloutId: 'rollout:checkout-v2:prod',
      running: true,
      result: { ...ended, outcome: 'held', opsLog: log.slice(0, 3), rollbackVerified: undefined },
      status,
      generatedAt: at(20),
    });
    expect(report.plan).toEqual({ id: 'checkout-v2' });
    expect(report.summary).toEqual({
      running: true,
      status: 'holding',
      phase: 'canary-10',
      percent: 10,
      startedAt: '2026-01-14T08:00:00.000Z',
      duration: '20m',
      waits: [{ kind: 'approval', role: 'cfo', have: 0, need: 1, phase: 'full', at: 'enter' }],
      waitingFor: ['approval by cfo (0 of 1) to enter full'],
      hold: { reason: 'error_rate >= 2% for 5m', since: '2026-01-14T08:10:00.000Z', deadline: '2026-01-14T09:10:00.000Z', decidedBy: ['sre'] },
      gates: [{ name: 'errors-ok', satisfied: false, detail: 'error_rate = 0.03 (condition < 0.01)' }],
    });
    expect(report.rollback).toBeUndefined();
  });

  test('success criteria are listed with their verdicts', () => {
    const report = buildEvidenceReport({ rolloutId: 'r', running: false, result: { ...ended, outcome: 'completed', successCriteria: { 'error-rate': 'pass', adoption: 'inconclusive' } }, generatedAt: at(60) });
    expect(report.successCriteria).toEqual([
      { name: 'error-rate', verdict: 'pass' },
      { name: 'adoption', verdict: 'inconclusive' },
    ]);
    expect(report.plan).toEqual({ id: 'unknown' });
  });
});

describe('renderEvidenceMarkdown', () => {
  const md = () => renderEvidenceMarkdown(endedReport());

  test('has a title, the summary facts and every section in order', () => {
    const text = md();
    expect(text.startsWith('# Rollout evidence: Checkout v2\n\nrollout:checkout-v2:prod — rolled_back\n')).toBe(true);
    const sections = text.split('\n').filter((line) => line.startsWith('## '));
    expect(sections).toEqual([
      '## Summary',
      '## Phase changes',
      '## Approvals',
      '## Refused messages',
      '## Incidents and alerts',
      '## Rollback and verification',
      '## Success criteria',
      '## Tasks, checks and attestations',
      '## Interventions and holds',
      '## Metric snapshots',
      '## Timeline (complete ops log)',
    ]);
    expect(text).toContain('| Final state | rolled_back |');
    expect(text).toContain('| Rollback | at 2026-01-14T08:41:00.000Z, verified |');
    expect(text).toContain('| Approvals | 2 (1 signature-verified) |');
  });

  test('escapes a pipe in a reason so the table keeps its columns', () => {
    expect(md()).toContain('| 2026-01-14T08:30:00.000Z | approved | cfo | cfo@example.com | phase full | verified | numbers \\| fine: really |');
  });

  test('neutralises HTML a person wrote, and keeps comparisons readable', () => {
    const text = md();
    expect(text).toContain('checkout errors \\<script>alert(1)\\</script>');
    expect(text).not.toMatch(/[^\\]<script>/);
  });

  test('shows one column per metric in the snapshots table, blank where a snapshot lacks it', () => {
    const text = md();
    expect(text).toContain('| Time | Phase | Traffic | Decision | error_rate | p95_ms |');
    expect(text).toContain('| 2026-01-14T08:15:00.000Z | canary-10 | 10% | snapshot |  | 431 |');
  });

  test('says so when a section has nothing to show', () => {
    expect(md()).toContain('## Success criteria\n\nNot evaluated.\n');
    expect(md()).toContain('## Tasks, checks and attestations\n\nNone recorded.\n');
  });
});

describe('renderEvidenceHtml', () => {
  test('is one HTML page whose text is escaped: a script in an incident title is shown, not run', () => {
    const html = renderEvidenceHtml(endedReport());
    expect(html.startsWith('<!doctype html>\n<html lang="en">')).toBe(true);
    expect(html).toContain('<title>Rollout evidence: Checkout v2</title>');
    expect(html).toContain('checkout errors &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>');
    expect(html).toContain('<h2>Approvals</h2>');
    expect(html).toContain('<td>numbers | fine: really</td>');
  });

  test('escapeHtml escapes the five special characters', () => {
    expect(escapeHtml(`<a href="x">Tom & Jerry's</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;');
  });
});

describe('renderEvidenceJson', () => {
  test('round-trips the report', () => {
    const report = endedReport();
    expect(JSON.parse(renderEvidenceJson(report))).toEqual(report);
  });
});

describe('the facts read from the history and the plan', () => {
  const planText = readFileSync(join(__dirname, '../fixtures/plans/mini.yaml'), 'utf8');
  const loaded = parsePlanText(planText);
  if (!loaded.ok) throw new Error('test/fixtures/plans/mini.yaml does not load');
  const plan = loaded.plan;
  const withVerify: Plan = { ...plan, rollback: { ...plan.rollback, verify: { within: '10m', checks: [{ name: 'errors-back', when: { kind: 'threshold', metric: 'error_rate', op: '<', value: 0.01 } }] } } };

  const advanced: OpsLogEntry[] = [
    { at: at(0), phase: 'before-start', percent: 0, action: 'start', reason: 'rollout of checkout-v2 in prod started: 3 phases, 10% → 25% → 100%' },
    { at: at(0), phase: 'canary-10', percent: 10, action: 'enter-phase', reason: 'entered canary-10 at 10% (from 0%): no conditions' },
    { at: at(130), phase: 'canary-10', percent: 10, action: 'approve', reason: 'cfo cfo@example.com approved phase canary-25: budget fine', actor: 'cfo@example.com', approval: { role: 'cfo', by: 'cfo@example.com', decision: 'approve', subject: 'phase:canary-25', signatureVerified: false, reason: 'budget fine' } },
    {
      at: at(130),
      phase: 'canary-25',
      percent: 25,
      action: 'advance',
      reason: 'advanced to canary-25 at 25% (from 10%): gates: p95-ok ok (p95 = 23.21 ms (condition <= 500)); approved by cfo: cfo@example.com',
      metrics: { error_rate: 0.002, p95: 23.20833333333334 },
    },
    { at: at(140), phase: 'canary-25', percent: 0, action: 'rollback', reason: 'ROLLBACK: error-hard-stop; flags to 0%', metrics: { error_rate: 0.061 } },
  ];
  const result: RolloutResult = { outcome: 'rolled_back', finalPercent: 0, phase: 'canary-25', decisions: [], opsLog: advanced };
  const report = (input: Partial<Parameters<typeof buildEvidenceReport>[0]> = {}) =>
    buildEvidenceReport({
      rolloutId: 'rollout:checkout-v2:prod',
      running: false,
      result,
      memo: { planId: 'mini', planName: 'Mini' },
      generatedAt: at(200),
      execution: { runId: 'run-2', firstRunId: 'run-1', namespace: 'default', uiUrl: 'http://ui.example:8233/' },
      plan,
      startedBy: 'alice@laptop',
      flagWrites: [
        { at: at(0) + 1500, flags: ['checkout-v2'], percent: 10, enabled: true },
        { at: at(130) + 800, flags: ['checkout-v2'], percent: 25, enabled: true },
        { at: at(140) + 2300, flags: ['checkout-v2'], percent: 0, enabled: true },
      ],
      ...input,
    });

  test('the summary names the run and links its history in the Temporal UI', () => {
    const md = renderEvidenceMarkdown(report());
    expect(md).toContain('| Run | run-2 (first run run-1) |');
    expect(md).toContain('| History | http://ui.example:8233/namespaces/default/workflows/rollout%3Acheckout-v2%3Aprod/run-2/history |');
    expect(renderEvidenceHtml(report())).toContain('<tr><th>History</th><td>http://ui.example:8233/namespaces/default/workflows/rollout%3Acheckout-v2%3Aprod/run-2/history</td></tr>');
  });

  test('the plan hash is the sha256 of the plan canonical JSON, whatever order its keys were written in', () => {
    const reordered = Object.fromEntries(Object.entries(plan).reverse()) as Plan;
    const sha = report().plan.sha256;
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(report({ plan: reordered }).plan.sha256).toBe(sha);
    expect(report({ plan: { ...plan, name: 'Mini 2' } }).plan.sha256).not.toBe(sha);
    expect(renderEvidenceMarkdown(report())).toContain(`| Plan hash | sha256:${sha} |`);
    expect(renderEvidenceMarkdown(endedReport())).toContain('| Plan hash | not recorded (the plan could not be read) |');
  });

  test('the summary says who started the rollout', () => {
    expect(renderEvidenceMarkdown(report())).toContain('| Started by | alice@laptop |');
    expect(renderEvidenceMarkdown(endedReport())).toContain('| Started by | not recorded |');
  });

  test('each snapshot value is shown beside the gates and triggers of the plan that read its metric, rounded as in the rationale', () => {
    const md = renderEvidenceMarkdown(report());
    expect(md).toContain('error_rate = 0.002 (gate errors-ok: < 0.01 ratio; trigger error-hard-stop: >= 0.05 ratio), p95 = 23.21 (gate p95-ok: <= 500 ms)');
    expect(md).not.toContain('23.20833333333334');
    expect(md).toContain('| 2026-01-14T10:10:00.000Z | canary-25 | 25% | advance | 0.002 (gate errors-ok: < 0.01 ratio; trigger error-hard-stop: >= 0.05 ratio) | 23.21 (gate p95-ok: <= 500 ms) |');
  });

  test('an approved advance shows its approvers as By', () => {
    const r = report();
    expect(r.phaseChanges.find((e) => e.action === 'advance')?.approvedBy).toEqual(['cfo@example.com (cfo)']);
    const md = renderEvidenceMarkdown(r);
    expect(md).toMatch(/\| 2026-01-14T10:10:00\.000Z \| canary-25 \| 25% \| advance \| advanced to canary-25 [^\n]* \| cfo@example\.com \(cfo\) \|\n/);
  });

  test('a rollback with no verification configured says so, and when the last flag write took traffic to 0%', () => {
    const md = renderEvidenceMarkdown(report());
    expect(md).toContain('| Rollback | at 2026-01-14T10:20:00.000Z, not verified: no verification configured (rollback.verify); traffic at 0% since 2026-01-14T10:20:02.300Z |');
    expect(md).toContain('| Verified | not verified: no verification configured (rollback.verify) |');
    expect(md).toContain("| Traffic at 0% | since 2026-01-14T10:20:02.300Z (the rollout's last flag write) |");
  });

  test('a verified or unverified rollback says against which checks and within what bound', () => {
    const verified = renderEvidenceMarkdown(report({ plan: withVerify, result: { ...result, rollbackVerified: true } }));
    expect(verified).toContain('| Rollback | at 2026-01-14T10:20:00.000Z, verified (errors-back: error_rate < 0.01 (1%), within 10m of the rollback); traffic at 0% since 2026-01-14T10:20:02.300Z |');
    expect(verified).toContain('| Against | errors-back: error_rate < 0.01 (1%), within 10m of the rollback |');
    const failed = renderEvidenceMarkdown(report({ plan: withVerify, result: { ...result, rollbackVerified: false } }));
    expect(failed).toContain('| Rollback | at 2026-01-14T10:20:00.000Z, NOT verified (errors-back: error_rate < 0.01 (1%), within 10m of the rollback)');
    const stillUp = renderEvidenceMarkdown(report({ flagWrites: [{ at: at(1), flags: ['checkout-v2'], percent: 10, enabled: true }] }));
    expect(stillUp).toContain("| Traffic at 0% | not reached: the rollout's last flag write did not set 0% |");
  });
});

describe('the readings behind a decision', () => {
  test('say when they were observed, and which are older than that (their source stopped answering)', () => {
    const entries: OpsLogEntry[] = [
      { at: at(0), phase: 'before-start', percent: 0, action: 'start', reason: 'started' },
      {
        at: at(20),
        phase: 'full',
        percent: 100,
        action: 'advance',
        reason: 'advanced to full at 100% (from 10%): 20m minimum in canary elapsed',
        metrics: { error_rate: 0.002, p95_ms: 420 },
        observedAt: at(19),
        olderReadings: { p95_ms: at(8) },
      },
    ];
    const result: RolloutResult = { outcome: 'held', finalPercent: 100, phase: 'full', decisions: [], opsLog: entries };
    const report = buildEvidenceReport({ rolloutId: 'r', running: true, result, generatedAt: at(21) });
    expect(report.phaseChanges[0]).toMatchObject({ observedAt: '2026-01-14T08:19:00.000Z', olderReadings: { p95_ms: '2026-01-14T08:08:00.000Z' } });
    const md = renderEvidenceMarkdown(report);
    expect(md).toContain('error_rate = 0.002, p95_ms = 420 (read 2026-01-14T08:08:00.000Z, before the last observation); observed 2026-01-14T08:19:00.000Z');
  });
});

describe('approvals of a rollout whose ops log predates approvals as data', () => {
  test('come from the approvals the result carries', () => {
    const older = log.map(({ approval: _approval, ...e }) => e);
    const result: RolloutResult = {
      ...ended,
      opsLog: older,
      approvals: [{ id: 'a1', role: 'cfo', by: 'cfo@example.com', subject: 'phase:full', decision: 'approve', at: at(30), reason: 'numbers | fine: really', verified: true }],
    };
    const report = buildEvidenceReport({ rolloutId: 'r', running: false, result, generatedAt: at(60) });
    expect(report.approvals).toEqual([
      { at: '2026-01-14T08:30:00.000Z', decision: 'approved', role: 'cfo', by: 'cfo@example.com', subject: 'phase full', reason: 'numbers | fine: really', signatureVerified: true },
    ]);
  });
});
