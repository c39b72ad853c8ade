/**
 * What the Temporal UI shows of a rollout, read back from a real dev server: the static summary and details given at
 * start, the current details (where the rollout is and what it waits for), descriptions on every query, signal and
 * update, summaries on timers and activities, and ISO times in the result.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { rolloutResult, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import { startDevRollouts, type DevRollouts } from '../helpers/dev-rollouts';

const PLAN = `
apiVersion: canary/v1
id: ui-metadata
name: UI metadata
owner: owner@example.com
target: { flags: [ui-flag], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { sim: { type: scenario } }
metrics:
  error_rate: { source: sim, query: error_rate, unit: ratio }
roles:
  release-manager: { members: [rm@example.com] }
analysis: { interval: 1s }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01 }
phases:
  - { name: canary-10, percent: 10, minDuration: 1s }
  - { name: full, percent: 100, minDuration: 1s, approvals: [{ role: release-manager }] }
`;

interface WorkflowMetadata {
  definition: {
    queryDefinitions: Array<{ name: string; description?: string }>;
    signalDefinitions: Array<{ name: string; description?: string }>;
    updateDefinitions: Array<{ name: string; description?: string }>;
  };
  currentDetails?: string;
}

describe('the rollout in the Temporal UI', () => {
  let dev: DevRollouts;
  beforeAll(async () => {
    dev = await startDevRollouts({ taskQueue: 'ui-metadata' });
  }, 60_000);
  afterAll(async () => {
    await dev?.stop();
  });

  it('has a summary, details, described handlers, current details, timer and activity summaries and ISO times', async () => {
    const loaded = parsePlanText(PLAN, 'ui.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const handle = await startRollout(dev.env.client, loaded.plan, { workflowId: 'ui-metadata', taskQueue: 'ui-metadata' });

    const described = await handle.describe();
    expect(await described.staticSummary()).toBe('Rollout of ui-flag in prod: 10% → 100% (plan ui-metadata)');
    expect(await described.staticDetails()).toContain('- **full**: 100%; at least 1s; approval by release-manager');

    // Waits for the release manager: the current details say so.
    let metadata: WorkflowMetadata | undefined;
    for (let tries = 0; tries < 100; tries++) {
      metadata = await handle.query<WorkflowMetadata>('__temporal_workflow_metadata');
      if (metadata.currentDetails?.includes('approval by release-manager')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(metadata?.currentDetails).toMatch(/^\*\*\w+\*\* — canary-10 at 10%\n- waiting for approval by release-manager/);
    const described2 = (list: Array<{ name: string; description?: string }>) => Object.fromEntries(list.map((d) => [d.name, d.description]));
    const queries = described2(metadata?.definition.queryDefinitions ?? []);
    const signals = described2(metadata?.definition.signalDefinitions ?? []);
    const updates = described2(metadata?.definition.updateDefinitions ?? []);
    expect(Object.keys(signals).sort()).toEqual(['alert', 'approve', 'attest', 'consumeToken', 'incident', 'operator', 'reject', 'reportValue', 'spend', 'taskResult']);
    for (const [name, description] of [...Object.entries(queries), ...Object.entries(signals), ...Object.entries(updates)]) {
      if (!name.startsWith('__')) expect({ name, description: description?.length ? 'described' : 'missing' }).toEqual({ name, description: 'described' });
    }
    expect(updates.operator).toMatch(/needs a role the plan grants/);

    await handle.signal('approve', { role: 'release-manager', by: 'rm@example.com' });
    const result = await rolloutResult(handle);
    expect(result.outcome).toBe('completed');
    expect(result.decisions[0]?.time).toBe(new Date(result.decisions[0]?.at ?? 0).toISOString());

    const history = await handle.fetchHistory();
    const summaries = (history.events ?? []).flatMap((e) => {
      const summary = e.userMetadata?.summary;
      return summary ? [`${e.eventType}: ${String(defaultPayloadConverter.fromPayload(summary))}`] : [];
    });
    expect(summaries).toEqual(expect.arrayContaining([expect.stringMatching(/ui-flag → 10% \(entering canary-10\)$/), expect.stringMatching(/ui-flag → 100% \(entering full\)$/)]));
    expect(summaries.some((s) => /observe error_rate/.test(s))).toBe(true);
    expect(summaries.some((s) => /minimum duration|next evaluation|approval by release-manager/.test(s))).toBe(true);
  }, 90_000);
});
