/** The evidence report as Markdown (GitHub-flavoured tables), for a pull request, a ticket or the evidence folder. */
import type { EvidenceReport } from './evidence-report';
import { type EvidenceBlock, evidenceDocument } from './evidence-sections';

/**
 * Renders the report. Table cells escape `|` and backslashes and put line breaks on one line, so a rationale or
 * reason can never break the table; text outside tables escapes the characters Markdown would interpret.
 */
export function renderEvidenceMarkdown(report: EvidenceReport): string {
  const doc = evidenceDocument(report);
  const out: string[] = [`# ${inline(doc.title)}`, '', inline(doc.subtitle)];
  for (const section of doc.sections) {
    out.push('', `## ${inline(section.title)}`);
    for (const block of section.blocks) out.push('', ...renderBlock(block));
  }
  return `${out.join('\n')}\n`;
}

function renderBlock(block: EvidenceBlock): string[] {
  switch (block.kind) {
    case 'text':
      return [inline(block.text)];
    case 'list':
      return block.items.map((item) => `- ${inline(item)}`);
    case 'facts':
      return table(['', ''], block.rows);
    case 'table':
      return table(block.headers, block.rows);
  }
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(headers), `|${headers.map(() => ' --- ').join('|')}|`, ...rows.map(line)];
}

function cell(text: string): string {
  return inline(text).replace(/\|/g, '\\|');
}

/** One line of text with Markdown's inline syntax neutralised. */
function inline(text: string): string {
  return text
    .replace(/\r?\n/g, ' ')
    .replace(/\\/g, '\\\\')
    // Underscores stay: inside words (error_rate, rolled_back) GitHub Markdown does not read them as emphasis.
    .replace(/([`*[\]])/g, '\\$1')
    // Only "<" that could open a tag is HTML to Markdown; "p95 <= 500" stays readable.
    .replace(/<(?=[A-Za-z/!?])/g, '\\<');
}
