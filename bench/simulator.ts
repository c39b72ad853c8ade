/**
 * Simulator speed: seed 003's plan at 30-second ticks over 8 days (about 23k ticks), healthy metrics and every
 * approval, attestation and precondition given up front. Prints ticks, wall time and ticks per second.
 * Run: npx tsx bench/simulator.ts [plan] [runs]
 */
import { loadPlanFile } from '../src/plan/load';
import type { Plan } from '../src/plan/schema';
import { Scenario } from '../src/simulate/scenario';
import { simulate } from '../src/simulate/simulator';

async function main(): Promise<void> {
  const file = process.argv[2] ?? 'plans/seed-003-phase9-production.yaml';
  const runs = Number(process.argv[3] ?? 5);
  const loaded = await loadPlanFile(file);
  if (!loaded.ok) throw new Error(`${file} does not load`);
  const plan: Plan = { ...loaded.plan, analysis: { ...loaded.plan.analysis, interval: '30s' } };
  const scenario = Scenario.parse({ duration: '8d' });
  const times: number[] = [];
  let ticks = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const result = await simulate(plan, scenario);
    times.push(performance.now() - t0);
    ticks = result.ticks;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] ?? 0;
  console.log(`plan ${file}: ${ticks} ticks over 8 days at 30s`);
  console.log(`first run ${times.at(-1)?.toFixed(0)} ms (includes JIT warm-up), median of ${runs} ${median.toFixed(0)} ms, ${Math.round(ticks / (median / 1000))} ticks/s`);
  console.log(`target: under 1000 ms → ratio ${(median / 1000).toFixed(2)} of target`);
}

void main();
