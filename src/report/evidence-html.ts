/** The evidence report as one self-contained HTML page (inline CSS, no scripts), for archiving and printing. */
import type { EvidenceReport } from './evidence-report';
import { type EvidenceBlock, evidenceDocument } from './evidence-sections';

/**
 * Renders the report. Every piece of text from the rollout (rationales, reasons, identities, metric names) is
 * HTML-escaped: a reason such as `<script>` shows as text and never runs.
 */
export function renderEvidenceHtml(report: EvidenceReport): string {
  const doc = evidenceDocument(report);
  const body = doc.sections.map((section) => `<section>\n<h2>${escapeHtml(section.title)}</h2>\n${section.blocks.map(renderBlock).join('\n')}\n</section>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(doc.title)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td:first-child { white-space: nowrap; }
</style>
</head>
<body>
<h1>${escapeHtml(doc.title)}</h1>
<p>${escapeHtml(doc.subtitle)}</p>
${body}
</body>
</html>
`;
}

function renderBlock(block: EvidenceBlock): string {
  switch (block.kind) {
    case 'text':
      return `<p>${escapeHtml(block.text)}</p>`;
    case 'list':
      return `<ul>\n${block.items.map((item) => `<li>${escapeHtml(item)}</li>`).join('\n')}\n</ul>`;
    case 'facts':
      return `<table>\n${block.rows.map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(value)}</td></tr>`).join('\n')}\n</table>`;
    case 'table':
      return `<table>\n<tr>${block.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>\n${block.rows
        .map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
        .join('\n')}\n</table>`;
  }
}

/** Escapes the five characters HTML gives meaning to in text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
