import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planJsonSchemaText } from '../../src/cli/commands/schema';

const COMMITTED = join(__dirname, '..', '..', 'schema', 'plan.schema.json');

test('schema/plan.schema.json is the schema the plan format generates (after changing the format, run npm run schema)', () => {
  const committed = readFileSync(COMMITTED, 'utf8');
  const generated = planJsonSchemaText();
  // Compared as data first, for a readable difference, then as text.
  expect(JSON.parse(committed)).toEqual(JSON.parse(generated));
  expect(committed).toBe(generated);
});
