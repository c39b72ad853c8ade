import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { simulate } from '../../src/simulate/simulator';
import { scenarioWithPlan } from '../helpers/equivalence';

const dir = resolve(__dirname, '..', '..', 'scenarios');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('every shipped scenario tells the story it states, at the plan\'s own evaluation interval', () => {
  it.each(files)('%s ends as its expect says', async (file) => {
    const { scenario, plan } = await scenarioWithPlan(join(dir, file));
    expect(scenario.expect).toBeDefined();
    const run = await simulate(plan, scenario);
    expect({ outcome: run.outcome, finalPercent: run.finalPercent }).toEqual({ outcome: scenario.expect?.outcome, finalPercent: scenario.expect?.finalPercent ?? run.finalPercent });
  }, 120_000);

  it('each seed plan has a happy path and at least one failure path', () => {
    for (const seed of ['seed-000', 'seed-001', 'seed-002', 'seed-003', 'seed-004']) {
      expect(files.filter((f) => f.startsWith(seed) && f.includes('happy'))).toHaveLength(1);
      expect(files.filter((f) => f.startsWith(seed) && !f.includes('happy')).length).toBeGreaterThan(0);
    }
  });
});
