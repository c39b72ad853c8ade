/**
 * A plan for machine tests: one flagd flag (checkout-v2 in prod), metrics from a scenario source, and `body` — the
 * analysis settings, roles, gates, triggers and phases a test is about. A plan that does not load fails the test.
 */
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';

export function testPlan(body: string, options: { id?: string; metrics?: Record<string, string> } = {}): Plan {
  const id = options.id ?? 'test';
  const metrics = Object.entries(options.metrics ?? { error_rate: 'ratio' })
    .map(([name, unit]) => `  ${name}: { source: sim, query: ${name}, unit: ${unit} }`)
    .join('\n');
  const text = `
apiVersion: canary/v1
id: ${id}
name: ${id}
target: { flags: [checkout-v2], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
${metrics}
${body}`;
  const loaded = parsePlanText(text, `${id}.yaml`);
  if (!loaded.ok) throw new Error(loaded.issues.map((i) => `${i.line} ${i.path}: ${i.message}`).join('\n'));
  return loaded.plan;
}
