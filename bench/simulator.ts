/**
 * Simulator speed: seed 003's plan at its own 30-second ticks over the first 8 days of the shipped happy-path
 * scenario (scenarios/seed-003-happy.yaml: preconditions, executive sign-offs, stage gates, stand-ins doing every
 * manual task) — about 23k ticks. Prints ticks, wall time and ticks per second, and the ratio to the 1-second target.
 * Run: npx tsx bench/simulator.ts [plan] [scenario] [runs]
 */
import { loadPlanFile } from '../src/plan/load';
import { loadScenarioFile } from '../src/simulate/scenario';
import { simulate } from '../src/simulate/simulator';

async function main(): Promise<void> {
  const file = process.argv[2] ?? 'plans/seed-003-phase9-production.yaml';
  const scenarioFile = process.argv[3] ?? 'scenarios/seed-003-happy.yaml';
  const runs = Number(process.argv[4] ?? 7);
  const loaded = await loadPlanFile(file);
  if (!loaded.ok) throw new Error(`${file} does not load`);
  const plan = { ...loaded.plan, analysis: { ...loaded.plan.analysis, interval: '30s' } };
  const scenario = { ...loadScenarioFile(scenarioFile), duration: '8d' };
  const times: number[] = [];
  let ticks = 0;
  let decisions = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const result = await simulate(plan, scenario);
    times.push(performance.now() - t0);
    ticks = result.ticks;
    decisions = result.decisions.length;
  }
  const first = times[0] ?? 0;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(`plan ${file} × ${scenarioFile}: ${ticks} ticks over 8 days at 30s, ${decisions} decisions`);
  console.log(`first run ${first.toFixed(0)} ms (includes JIT warm-up), best ${sorted[0]?.toFixed(0)} ms, median of ${runs} ${median.toFixed(0)} ms, ${Math.round(ticks / (median / 1000))} ticks/s`);
  console.log(`target: under 1000 ms → median is ${(median / 1000).toFixed(2)}× the target`);
}

void main();
