/**
 * Simulator speed: seed 003's plan at its own 30-second ticks over the first 8 days of the shipped happy-path
 * scenario (scenarios/seed-003-happy.yaml: preconditions, executive sign-offs, stage gates, stand-ins doing every
 * manual task) — about 23k ticks. Prints ticks, wall time and ticks per second, and the ratio to the 1-second target.
 * Run: npx tsx bench/simulator.ts [plan] [scenario] [runs] [--source]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlanFile } from '../src/plan/load';
import { loadScenarioFile } from '../src/simulate/scenario';
import { simulate } from '../src/simulate/simulator';

/**
 * Under tsx every function carries the dev loader's naming wrapper, which costs about a third here: unless told not
 * to (--source), the bench bundles itself into plain JavaScript, as a build would ship it, and runs that.
 */
async function runBundled(): Promise<boolean> {
  if (process.env.CANARY_BENCH_BUNDLED === '1' || process.argv.includes('--source')) return false;
  const out = join(mkdtempSync(join(tmpdir(), 'canary-bench-')), 'simulator.js');
  const { buildSync } = await import('esbuild');
  buildSync({ entryPoints: [__filename], bundle: true, platform: 'node', format: 'cjs', outfile: out, logLevel: 'warning', external: ['esbuild'] });
  console.log('(bundled to plain JavaScript with esbuild; --source runs the TypeScript through tsx instead)');
  execFileSync(process.execPath, [out, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, CANARY_BENCH_BUNDLED: '1' } });
  return true;
}

async function main(): Promise<void> {
  if (await runBundled()) return;
  const args = process.argv.slice(2).filter((a) => a !== '--source');
  const file = args[0] ?? 'plans/seed-003-phase9-production.yaml';
  const scenarioFile = args[1] ?? 'scenarios/seed-003-happy.yaml';
  const runs = Number(args[2] ?? 7);
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
