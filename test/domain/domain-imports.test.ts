import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * Domain code imports nothing outside src/domain (eslint says so too): the decisions can be read, tested and
 * replayed without the plan loader, the workflow, providers or Node. Packages other than pure ones are refused.
 */
const domain = resolve(__dirname, '..', '..', 'src', 'domain');
const PURE_PACKAGES = new Set(['zod']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

describe('domain imports', () => {
  const all = files(domain);

  it('finds the domain files', () => {
    expect(all.length).toBeGreaterThan(5);
  });

  it.each(all.map((f) => [relative(domain, f), f]))('%s imports only domain modules and pure packages', (_name, file) => {
    const outside = importsOf(readFileSync(file, 'utf8')).filter((spec) => {
      if (spec.startsWith('.')) return !resolve(dirname(file), spec).startsWith(domain + '/') && resolve(dirname(file), spec) !== domain;
      return !PURE_PACKAGES.has(spec);
    });
    expect(outside).toEqual([]);
  });

  it('would catch an import that leaves the domain', () => {
    const file = join(domain, 'machine', 'example.ts');
    const spec = '../../plan/load';
    expect(resolve(dirname(file), spec).startsWith(domain + '/')).toBe(false);
    expect(importsOf(`import type { Plan } from '${spec}';`)).toEqual([spec]);
  });
});
