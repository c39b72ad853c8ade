/**
 * `canary schema [--out file]`: the JSON Schema of the plan format, generated from the zod definitions, for editors
 * (`# yaml-language-server: $schema=…`). `npm run schema` writes it to schema/plan.schema.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { planJsonSchema } from '../../plan/schema';
import type { CliContext } from '../context';

/** The schema as it is printed and committed: two-space JSON with a final newline. */
export function planJsonSchemaText(): string {
  return `${JSON.stringify(planJsonSchema(), null, 2)}\n`;
}

/** Adds `schema` to the program. */
export function registerSchemaCommand(program: Command, cli: CliContext): void {
  program
    .command('schema')
    .description('print the JSON Schema of the plan format')
    .option('--out <file>', 'write it to this file instead of printing it')
    .option('--json', 'the schema is JSON with or without this flag; with --out, print {out} instead of the "wrote" line')
    .action(async (options: { out?: string; json?: boolean }) => {
      const text = planJsonSchemaText();
      if (!options.out) {
        cli.io.stdout.write(text);
        return;
      }
      await mkdir(dirname(options.out), { recursive: true });
      await writeFile(options.out, text);
      cli.out(options.json ? JSON.stringify({ out: options.out }) : `wrote ${options.out}`);
    });
}
