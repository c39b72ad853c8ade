/**
 * The layout of an evidence report, shared by its Markdown and HTML forms: a title, then sections of key/value facts,
 * bullet lists and tables of plain text. Renderers only escape and format; what is shown, in which order, is decided
 * once, here.
 */
import type { EvidenceEntry, EvidenceReport } from './evidence-report';

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
        ['Plan', report.plan.name ? `${report.plan.name} (${report.plan.id})` : report.plan.id],
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
          ? [{ kind: 'table', headers: ['Time', 'Phase', 'Traffic', 'Decision', 'Go/no-go rationale', 'Metrics snapshot', 'By'], rows: report.phaseChanges.map((e) => [e.at, e.phase, `${e.percent}%`, e.action, e.rationale, metricsText(e), e.actor ?? '']) }]
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
      { title: 'Incidents and alerts', blocks: report.incidents.length ? [entryTable(report.incidents)] : none() },
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
                  ['Verified', rollback.verified === undefined ? 'not verified' : rollback.verified ? 'yes: metrics back to baseline' : 'NO: metrics did not return to baseline'],
                ],
              },
              ...(rollback.verification.length ? [entryTable(rollback.verification)] : []),
            ]
          : none('No rollback.'),
      },
      {
        title: 'Success criteria',
        blocks: report.successCriteria.length
          ? [{ kind: 'table', headers: ['Criterion', 'Verdict'], rows: report.successCriteria.map((c) => [c.name, c.verdict]) }]
          : none('Not evaluated.'),
      },
      { title: 'Tasks, checks and attestations', blocks: report.tasks.length ? [entryTable(report.tasks)] : none() },
      { title: 'Interventions and holds', blocks: report.interventions.length ? [entryTable(report.interventions)] : none() },
      { title: 'Metric snapshots', blocks: report.snapshots.length ? [snapshotTable(report.snapshots)] : none() },
      { title: 'Timeline (complete ops log)', blocks: report.timeline.length ? [entryTable(report.timeline)] : none() },
    ],
  };
}

function rollbackSummary(report: EvidenceReport): string {
  const r = report.rollback;
  if (!r) return 'none';
  if (r.verified === undefined) return `at ${r.startedAt}, not verified`;
  return `at ${r.startedAt}, ${r.verified ? 'verified' : 'NOT verified'}`;
}

function entryTable(entries: readonly EvidenceEntry[]): EvidenceBlock {
  return {
    kind: 'table',
    headers: ['Time', 'Phase', 'Traffic', 'Decision', 'Rationale', 'By', 'Metrics'],
    rows: entries.map((e) => [e.at, e.phase, `${e.percent}%`, e.action, e.rationale, e.actor ?? '', metricsText(e)]),
  };
}

/** One column per metric seen in any snapshot, in order of first appearance; a blank where a snapshot lacks it. */
function snapshotTable(entries: readonly EvidenceEntry[]): EvidenceBlock {
  const names = [...new Set(entries.flatMap((e) => Object.keys(e.metrics ?? {})))];
  return {
    kind: 'table',
    headers: ['Time', 'Phase', 'Traffic', 'Decision', ...names],
    rows: entries.map((e) => [e.at, e.phase, `${e.percent}%`, e.action, ...names.map((n) => (e.metrics?.[n] === undefined ? '' : String(e.metrics[n])))]),
  };
}

function metricsText(e: EvidenceEntry): string {
  return Object.entries(e.metrics ?? {})
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
}
