import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRolloutActivities } from '../../src/activities/rollout-activities';
import { createRolloutDeps } from '../../src/worker';

describe('a command task that prints a secret', () => {
  const name = 'CANARY_TEST_DEPLOY_TOKEN';
  const secret = 'tok_3f9a7c1e55d2b8';
  beforeAll(() => {
    process.env[name] = secret;
  });
  afterAll(() => {
    delete process.env[name];
  });

  it('reports its output with the secret redacted, so history and reports never hold it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'canary-task-secrets-'));
    // The command's output as a shell would give it back (jest's process.env does not reach child processes).
    const activities = createRolloutActivities({
      ...createRolloutDeps({ flagFileRoot: root, configFile: join(root, 'config.json') }),
      runCommand: async () => ({ exitCode: 3, output: `using ${secret} to deploy` }),
    });
    const result = await activities.runTask({
      scope: 'canary-10',
      task: { name: 'deploy', on: 'enter', run: { type: 'command', command: `echo "using $${name} to deploy"; exit 3`, timeout: '30s' } },
    } as Parameters<typeof activities.runTask>[0]);
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(`exit 3: using [redacted:${name}] to deploy`);
    expect(JSON.stringify(result)).not.toContain(secret);
  });
});
