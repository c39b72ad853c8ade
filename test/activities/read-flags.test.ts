import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRolloutActivities } from '../../src/activities/rollout-activities';
import { FlagdFileStore } from '../../src/providers/flags/flagd-file-store';
import { createRolloutDeps } from '../../src/worker';

describe('reading flags for value conditions (from: flag)', () => {
  it('answers the share of traffic a flag serves (0 when it is off) and nothing for a missing flag', async () => {
    const root = mkdtempSync(join(tmpdir(), 'canary-read-flags-'));
    const file = join(root, 'flags.json');
    const store = new FlagdFileStore(file);
    await store.write('A2_V26_COMPLIANT', { enabled: true, percent: 100 });
    await store.write('SHADOW_PASS_24H', { enabled: false, percent: 100 });
    await store.write('checkout-v2', { enabled: true, percent: 25 });
    const activities = createRolloutActivities(createRolloutDeps({ flagFileRoot: root, configFile: join(root, 'config.json') }));
    const values = await activities.readFlags({
      providerName: 'flagd',
      provider: { type: 'flagd-file', path: 'flags.json' },
      keys: ['A2_V26_COMPLIANT', 'SHADOW_PASS_24H', 'checkout-v2', 'EVIDENCE_BUNDLE'],
    });
    expect(values).toEqual({ A2_V26_COMPLIANT: 100, SHADOW_PASS_24H: 0, 'checkout-v2': 25, EVIDENCE_BUNDLE: undefined });
  });
});
