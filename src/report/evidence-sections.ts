/**
 * The layout of an evidence report, shared by its Markdown and HTML forms: a title, then sections of key/value facts,
 * bullet lists and tables of plain text. Renderers only escape and format; what is shown, in which order, is decided
 * once, here.
 */
import { type EvidenceEntry, type EvidenceReport, formatNumber } from './evidence-report';

/** A block of a section. All text is plain (unescaped); renderers escape it for their format. */
export type EvidenceBlock =
  | { kind: 'facts'; rows: Array<[string, string]> }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; headers: string[]; rows: string[][] }
  | { kind: 'text'; text: string };

export interface EvidenceSection {
  title: string;
  blocks: EvidenceBlock[];
}

export interface EvidenceDocument {
  title: string;
  subtitle: string;
  sections: EvidenceSection[];
}

/**
 * Lays the report out: Summary, Phase changes, Approvals, Refused messages, Incidents and alerts, Rollback and
 * verification, Success criteria, Tasks checks and attestations, Interventions, Metric snapshots, and the complete
 * Timeline. A section with nothing to show says so in one line ("None recorded."), so a reader can tell "none" from
 * "not reported".
 */
export function evidenceDocument(report: EvidenceReport): EvidenceDocument {
  const s = report.summary;
  const none = (what = 'None recorded.'): EvidenceBlock[] => [{ kind: 'text', text: what }];
  const verifiedApprovals = report.approvals.filter((a) => a.signatureVerified).length;

  const summary: EvidenceBlock[] = [
    {
      kind: 'facts',
      rows: [
        ['Rollout', report.rolloutId],
        ...(report.run
          ? [
              ['Run', report.run.firstRunId ? `${report.run.runId} (first run ${report.run.firstRunId})` : report.run.runId] as [string, string],
              ['History', report.run.historyUrl] as [string, string],
            ]
          : []),
        ['Plan', report.plan.name ? `${report.plan.name} (${report.plan.id})` : report.plan.id],
        ['Plan hash', report.plan.sha256 ? `sha256:${report.plan.sha256}` : 'not recorded (the plan could not be read)'],
        ['Started by', report.startedBy ?? 'not recorded'],
        ['Final state', s.running ? `still running: ${s.status}` : `${s.outcome ?? s.status}`],
        ['Phase', `${s.phase} at ${s.percent}%`],
        ['Started', s.startedAt ?? 'not recorded'],
        ...(s.endedAt ? [['Ended', s.endedAt] as [string, string]] : []),
        ...(s.duration ? [['Duration', s.duration] as [string, string]] : []),
        ['Rollback', rollbackSummary(report)],
        ['Approvals', `${report.approvals.length} (${verifiedApprovals} signature-verified)`],
        ['Refused messages', String(report.refused.length)],
        ['Incidents and alerts', String(report.incidents.length)],
        ['Ops-log entries', String(report.timeline.length)],
        ['Report generated', report.generatedAt],
      ],
    },
  ];
  if (s.waitingFor.length > 0) summary.push({ kind: 'text', text: 'Waiting for:' }, { kind: 'list', items: s.waitingFor });
  if (s.hold) {
    const h = s.hold;
    summary.push({ kind: 'text', text: `On hold since ${h.since}: ${h.reason}${h.decidedBy ? `; decided by ${h.decidedBy.join(' or ')}` : ''}${h.deadline ? `; deadline ${h.deadline}` : ''}` });
  }
  if (s.gates.length > 0) {
    summary.push({ kind: 'table', headers: ['Gate', 'Met', 'Current value against threshold'], rows: s.gates.map((g) => [g.name, g.satisfied ? 'yes' : 'no', g.detail ?? 'not evaluated yet']) });
  }

  const rollback = report.rollback;
  return {
    title: `Rollout evidence: ${report.plan.name ?? report.plan.id}`,
    subtitle: `${report.rolloutId} — ${s.running ? `running (${s.status})` : (s.outcome ?? s.status)}`,
    sections: [
      { title: 'Summary', blocks: summary },
      {
        title: 'Phase changes',
        blocks: report.phaseChanges.length
          ? [{ kind: 'table', headers: ['Time', 'Phase', 'Traffic', 'Decision', 'Go/no-go rationale', 'Metrics snapshot', 'By'], rows: report.phaseChanges.map((e) => [e.at, e.phase, `${e.percent}%`, e.action, e.rationale, metricsText(report, e), byText(e)]) }]
          : none(),
      },
      {
        title: 'Approvals',
        blocks: report.approvals.length
          ? [{ kind: 'table', headers: ['Time', 'Decision', 'Role', 'By', 'Subject', 'Signature', 'Reason'], rows: report.approvals.map((a) => [a.at, a.decision, a.role, a.by, a.subject, a.signatureVerified ? 'verified' : 'unsigned', a.reason ?? '']) }]
          : none(),
      },
      {
        title: 'Refused messages',
        blocks: report.refused.length ? [{ kind: 'table', headers: ['Time', 'Phase', 'By', 'What and why'], rows: report.refused.map((r) => [r.at, r.phase, r.by ?? '', r.message]) }] : none(),
      },
      { title: 'Incidents and alerts', blocks: report.incidents.length ? [entryTable(report, report.incidents)] : none() },
      {
        title: 'Rollback and verification',
        blocks: rollback
          ? [
              {
                kind: 'facts',
                rows: [
                  ['Started', rollback.startedAt],
                  ['Why', rollback.rationale],
                  ...(rollback.by ? [['By', rollback.by] as [string, string]] : []),
                  ['Verified', verificationText(report)],
                  ['Against', againstText(report)],
                  ...(rollback.trafficOffAt !== undefined ? [['Traffic at 0%', rollback.trafficOffAt ? `since ${rollback.trafficOffAt} (the rollout's last flag write)` : "not reached: the rollout's last flag write did not set 0%"] as [string, string]] : []),
                ],
              },
              ...(rollback.verification.length ? [entryTable(report, rollback.verification)] : []),
            ]
          : none('No rollback.'),
      },
      {
        title: 'Success criteria',
        blocks: report.successCriteria.length
          ? [{ kind: 'table', headers: ['Criterion', 'Verdict'], rows: report.successCriteria.map((c) => [c.name, c.verdict]) }]
          : none('Not evaluated.'),
      },
      { title: 'Tasks, checks and attestations', blocks: report.tasks.length ? [entryTable(report, report.tasks)] : none() },
      { title: 'Interventions and holds', blocks: report.interventions.length ? [entryTable(report, report.interventions)] : none() },
      { title: 'Metric snapshots', blocks: report.snapshots.length ? [snapshotTable(report, report.snapshots)] : none() },
      { title: 'Timeline (complete ops log)', blocks: report.timeline.length ? [entryTable(report, report.timeline)] : none() },
    ],
  };
}

/** "at <time>, verified", "at <time>, not verified: no verification configured (rollback.verify); traffic at 0% since <time>". */
function rollbackSummary(report: EvidenceReport): string {
  const r = report.rollback;
  if (!r) return 'none';
  const traffic = r.trafficOffAt ? `; traffic at 0% since ${r.trafficOffAt}` : '';
  if (r.verified === undefined) return `at ${r.startedAt}, not verified: ${unverifiedWhy(report)}${traffic}`;
  const against = r.verify === undefined ? '' : ` (${againstText(report)})`;
  return `at ${r.startedAt}, ${r.verified ? 'verified' : 'NOT verified'}${against}${traffic}`;
}

function verificationText(report: EvidenceReport): string {
  const r = report.rollback!;
  if (r.verified === undefined) return `not verified: ${unverifiedWhy(report)}`;
  return r.verified ? 'yes: metrics back to baseline' : 'NO: metrics did not return to baseline';
}

/** Why a rollback has no verdict: nothing to verify against, or no verdict yet within the bound. */
function unverifiedWhy(report: EvidenceReport): string {
  const v = report.rollback?.verify;
  if (v === null) return 'no verification configured (rollback.verify)';
  if (v === undefined) return 'the plan could not be read to say against what';
  return report.summary.running ? `waiting for ${v.checks.length} check(s) within ${v.within}` : `no verdict recorded for ${v.checks.length} check(s) within ${v.within}`;
}

/** The checks a rollback is verified against and their bound, in words. */
function againstText(report: EvidenceReport): string {
  const v = report.rollback?.verify;
  if (v === null) return 'nothing: no verification configured (rollback.verify)';
  if (v === undefined) return 'not recorded (the plan could not be read)';
  return `${v.checks.join('; ')}, within ${v.within} of the rollback`;
}

function byText(e: EvidenceEntry): string {
  return e.actor ?? e.approvedBy?.join(', ') ?? '';
}

function entryTable(report: EvidenceReport, entries: readonly EvidenceEntry[]): EvidenceBlock {
  return {
    kind: 'table',
    headers: ['Time', 'Phase', 'Traffic', 'Decision', 'Rationale', 'By', 'Metrics'],
    rows: entries.map((e) => [e.at, e.phase, `${e.percent}%`, e.action, e.rationale, byText(e), metricsText(report, e)]),
  };
}

/** One column per metric seen in any snapshot, in order of first appearance; a blank where a snapshot lacks it. */
function snapshotTable(report: EvidenceReport, entries: readonly EvidenceEntry[]): EvidenceBlock {
  const names = [...new Set(entries.flatMap((e) => Object.keys(e.metrics ?? {})))];
  return {
    kind: 'table',
    headers: ['Time', 'Phase', 'Traffic', 'Decision', ...names],
    rows: entries.map((e) => [e.at, e.phase, `${e.percent}%`, e.action, ...names.map((n) => (e.metrics?.[n] === undefined ? '' : valueText(report, e, n, e.metrics[n])))]),
  };
}

/**
 * "error_rate = 0.002 (gate errors-ok: < 0.01), p95_ms = 420 (read 08:08:00Z, before the last observation)"; then
 * when the readings were observed, if that is not the decision's own instant.
 */
function metricsText(report: EvidenceReport, e: EvidenceEntry): string {
  const values = Object.entries(e.metrics ?? {})
    .map(([name, value]) => {
      const older = e.olderReadings?.[name];
      return `${name} = ${valueText(report, e, name, value)}${older ? ` (read ${older}, before the last observation)` : ''}`;
    })
    .join(', ');
  return e.observedAt && e.observedAt !== e.at && values ? `${values}; observed ${e.observedAt}` : values;
}

/** A value rounded as the rationale rounds it, with the thresholds of the plan that read its metric where it was read. */
function valueText(report: EvidenceReport, e: EvidenceEntry, metric: string, value: number | string): string {
  const shown = typeof value === 'number' ? formatNumber(value) : value;
  const against = thresholdsAt(report, e)
    .filter((t) => t.metric === metric)
    .map((t) => `${t.kind} ${t.name}: ${t.condition}`);
  return against.length > 0 ? `${shown} (${[...new Set(against)].join('; ')})` : shown;
}

/**
 * The gates and triggers in force for an entry: those of its phase and, for an entry that names the phase just
 * entered (an advance logs the gates of the phase it left), those of the phase before it in the timeline.
 */
function thresholdsAt(report: EvidenceReport, e: EvidenceEntry): EvidenceReport['thresholds'] {
  if (report.thresholds.length === 0) return [];
  const phases = new Set([e.phase]);
  const index = ['enter-phase', 'advance', 'promote', 'force-promote'].includes(e.action) ? report.timeline.indexOf(e) : -1;
  for (let i = index - 1; i >= 0; i--) {
    const before = report.timeline[i]!;
    if (before.phase !== e.phase) {
      phases.add(before.phase);
      break;
    }
  }
  return report.thresholds.filter((t) => !t.phases || t.phases.some((p) => phases.has(p)));
}
