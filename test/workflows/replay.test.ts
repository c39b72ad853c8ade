import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { decodeRecordedHistories, HISTORY_FIXTURES, type RecordedHistories } from '../helpers/equivalence';
import { workflowBundle } from '../helpers/temporal-env';
import { workflowCodeOptions } from '../../src/worker';

// Recorded with RECORD_HISTORIES=1 npx jest test/workflows/equivalence.test.ts; a change to the workflow code that
// would make a running rollout take another path fails here. Rollouts in the field replay with the code they started
// on through patches: `*.before-provider-check.json` were recorded before the provider check (patched
// 'check-providers'), `*.before-trust-v2.json` before the trust rules (patched 'trust-v2': notifications per channel
// off the decision path, flag locks, rollbacks straight to the safe state), `*.before-rules-v3.json` before
// named checks were observed where the rollout waits for them (patched 'rules-v3': `until` checks
// and the checks of tokens still ahead); the plain files with the current code.
const files = existsSync(HISTORY_FIXTURES) ? readdirSync(HISTORY_FIXTURES).filter((f) => f.endsWith('.json')).sort() : [];

describe('recorded rollout histories replay against the current workflow code', () => {
  it('has a recorded history for every seed plan', () => {
    for (const seed of ['seed-000', 'seed-001', 'seed-002', 'seed-003', 'seed-004']) expect(files.filter((f) => f.startsWith(seed))).not.toHaveLength(0);
  });

  it.each(files)('%s replays without nondeterminism', async (file) => {
    const histories = decodeRecordedHistories(JSON.parse(readFileSync(join(HISTORY_FIXTURES, file), 'utf8')) as RecordedHistories);
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: workflowBundle(), dataConverter: { payloadConverterPath: workflowCodeOptions().payloadConverterPath } }, histories)) {
      if (result.error) failures.push(`${result.runId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(histories.length).toBeGreaterThan(0);
  }, 120_000);
});
