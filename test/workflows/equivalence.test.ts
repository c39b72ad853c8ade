import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runEquivalence } from '../helpers/equivalence';

const dir = resolve(__dirname, '..', '..', 'scenarios');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('the workflow decides exactly as the simulator for every scenario in scenarios/', () => {
  it.each(files)('%s: same decisions, same outcome', async (file) => {
    const run = await runEquivalence(join(dir, file));
    expect(run.workflowLines).toEqual(run.simulatedLines);
    expect(run.workflow.outcome).toBe(run.simulated.outcome);
    expect(run.workflow.finalPercent).toBe(run.simulated.finalPercent);
  }, 180_000);
});
