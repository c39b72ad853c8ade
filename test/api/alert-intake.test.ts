import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import {
  type AlertIntake,
  type AlertIntakeAnswer,
  type AlertmanagerPayload,
  alertsToEvents,
  type DeliverAlert,
  parseAlertmanagerPayload,
  startAlertIntake,
  temporalAlertDelivery,
} from '../../src/api/alert-intake';
import { rolloutResult, rolloutWorkflowId, startRollout } from '../../src/client';
import { loadPlanFile } from '../../src/plan/load';
import { loadScenarioFile } from '../../src/simulate/scenario';
import { createRolloutDeps, createWorker } from '../../src/worker';
import type { AlertInput } from '../../src/workflows/messages';
import { createDevServerEnv, workflowBundle } from '../helpers/temporal-env';
import { main } from '../../src/cli/main';

/** An Alertmanager 0.27 webhook notification (payload version 4) with one firing alert per rollout label style. */
function alertmanagerPayload(): AlertmanagerPayload & Record<string, unknown> {
  return {
    receiver: 'canary',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'HighErrorRate', canary_rollout: 'rollout:checkout-v2:prod', severity: 'critical', service: 'checkout' },
        annotations: { summary: 'checkout error rate above 5%', runbook_url: 'https://runbooks.example.com/checkout' },
        startsAt: '2025-05-06T10:21:45.828Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.example.org:9090/graph?g0.expr=job%3Acheckout_errors%3Aratio5m+%3E+0.05&g0.tab=1',
        fingerprint: '1a30ba71cca2921f',
      },
      {
        status: 'firing',
        labels: { alertname: 'HighErrorRate', flag: 'search-v3', environment: 'staging', severity: 'warning' },
        annotations: { summary: 'search error rate above 5%' },
        startsAt: '2025-05-06T10:22:15.001Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.example.org:9090/graph',
        fingerprint: 'bc97ff14869b13e3',
      },
    ],
    groupLabels: { alertname: 'HighErrorRate' },
    commonLabels: { alertname: 'HighErrorRate' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example.org:9093',
    version: '4',
    groupKey: '{}/{severity=~"critical|warning"}:{alertname="HighErrorRate"}',
    truncatedAlerts: 0,
  };
}

describe('alertsToEvents', () => {
  it('routes by the canary_rollout label, or by flag and environment, with the alert name, status and labels', () => {
    const routes = alertsToEvents(alertmanagerPayload());
    expect(routes).toEqual([
      {
        kind: 'deliver',
        alert: 'HighErrorRate',
        fingerprint: '1a30ba71cca2921f',
        status: 'firing',
        workflowId: 'rollout:checkout-v2:prod',
        input: {
          id: 'alertmanager:1a30ba71cca2921f:firing:2025-05-06T10:21:45.828Z',
          alert: 'HighErrorRate',
          status: 'firing',
          labels: { alertname: 'HighErrorRate', canary_rollout: 'rollout:checkout-v2:prod', severity: 'critical', service: 'checkout' },
        },
      },
      {
        kind: 'deliver',
        alert: 'HighErrorRate',
        fingerprint: 'bc97ff14869b13e3',
        status: 'firing',
        workflowId: rolloutWorkflowId('search-v3', 'staging'),
        input: {
          id: 'alertmanager:bc97ff14869b13e3:firing:2025-05-06T10:22:15.001Z',
          alert: 'HighErrorRate',
          status: 'firing',
          labels: { alertname: 'HighErrorRate', flag: 'search-v3', environment: 'staging', severity: 'warning' },
        },
      },
    ]);
  });

  it('prefers canary_rollout over flag and environment', () => {
    const payload = alertmanagerPayload();
    payload.alerts[0]!.labels = { ...payload.alerts[0]!.labels, flag: 'other', environment: 'dev' };
    expect(alertsToEvents(payload)[0]).toMatchObject({ kind: 'deliver', workflowId: 'rollout:checkout-v2:prod' });
  });

  it('gives the firing and the resolved notification of one alert different ids, and a redelivery the same id', () => {
    const firing = alertmanagerPayload();
    const resolved = alertmanagerPayload();
    resolved.alerts[0] = { ...resolved.alerts[0]!, status: 'resolved', endsAt: '2025-05-06T10:41:45.828Z' };
    const id = (p: AlertmanagerPayload) => {
      const route = alertsToEvents(p)[0]!;
      return route.kind === 'deliver' ? route.input.id : undefined;
    };
    expect(id(resolved)).toBe('alertmanager:1a30ba71cca2921f:resolved:2025-05-06T10:21:45.828Z');
    expect(id(firing)).not.toBe(id(resolved));
    expect(id(alertmanagerPayload())).toBe(id(firing));
  });

  it('computes a stable fingerprint from the labels when the payload has none, whatever their order', () => {
    const a = alertmanagerPayload();
    const b = alertmanagerPayload();
    delete a.alerts[1]!.fingerprint;
    delete b.alerts[1]!.fingerprint;
    b.alerts[1]!.labels = { severity: 'warning', environment: 'staging', flag: 'search-v3', alertname: 'HighErrorRate' };
    const fa = alertsToEvents(a)[1]!.fingerprint;
    expect(fa).toMatch(/^[0-9a-f]{16}$/);
    expect(alertsToEvents(b)[1]!.fingerprint).toBe(fa);
  });

  it('marks an alert that names no rollout, or has no alertname, as unroutable with the reason', () => {
    const payload = alertmanagerPayload();
    payload.alerts[0]!.labels = { alertname: 'DiskFull', instance: 'db-1' };
    payload.alerts[1]!.labels = { flag: 'search-v3', environment: 'staging' };
    expect(alertsToEvents(payload).map((r) => (r.kind === 'unroutable' ? r.reason : r.kind))).toEqual([
      'the alert names no rollout: add label canary_rollout (a workflow id) or labels flag and environment',
      'the alert has no alertname label',
    ]);
  });

  it('reads the rollout from other labels when told to', () => {
    const payload = alertmanagerPayload();
    payload.alerts[0]!.labels = { alertname: 'X', feature: 'pay', env: 'eu' };
    const [route] = alertsToEvents(payload, { flagLabel: 'feature', environmentLabel: 'env', rolloutLabel: 'workflow' });
    expect(route).toMatchObject({ kind: 'deliver', workflowId: 'rollout:pay:eu' });
  });
});

describe('parseAlertmanagerPayload', () => {
  it('accepts an Alertmanager payload and ignores fields it does not know (Grafana adds some)', () => {
    const payload = alertmanagerPayload();
    (payload.alerts[0] as Record<string, unknown>).silenceURL = 'https://grafana.example.com/alerting/silence/new';
    const parsed = parseAlertmanagerPayload({ ...payload, orgId: 1 });
    expect(parsed.ok).toBe(true);
  });

  it.each([
    [{}, 'alerts: expected an array of alerts'],
    [{ alerts: [{ labels: {}, startsAt: 'x' }] }, 'alerts[0].status: expected "firing" or "resolved"'],
    [{ alerts: [{ status: 'pending', labels: {}, startsAt: 'x' }] }, 'alerts[0].status: expected "firing" or "resolved"'],
    [{ alerts: [{ status: 'firing', labels: { a: 1 }, startsAt: 'x' }] }, 'alerts[0].labels.a: expected a string'],
    [{ alerts: [{ status: 'firing', labels: {} }] }, 'alerts[0].startsAt: expected an RFC 3339 time string'],
    [{ alerts: [{ status: 'firing', labels: [], startsAt: 'x' }] }, 'alerts[0].labels: expected an object of string values'],
    [[1, 2], 'body: expected an Alertmanager webhook payload: a JSON object with "alerts"'],
  ])('names the field that is wrong in %j', (body, error) => {
    expect(parseAlertmanagerPayload(body)).toEqual({ ok: false, error });
  });
});

describe('alert intake over HTTP', () => {
  let intake: AlertIntake;
  const delivered: Array<{ workflowId: string; input: AlertInput }> = [];
  let deliver: DeliverAlert = async () => 'delivered';
  const env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    intake = await startAlertIntake({
      port: 0,
      deliver: (workflowId, input) => {
        delivered.push({ workflowId, input });
        return deliver(workflowId, input);
      },
    });
  });
  beforeEach(() => {
    delivered.length = 0;
    deliver = async () => 'delivered';
  });
  afterAll(async () => {
    await intake.close();
  });

  const post = async (body: unknown, base = intake.url, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as AlertIntakeAnswer & { error?: string } };
  };

  it('delivers every alert of a notification and answers 200 with one result per alert', async () => {
    const { status, json } = await post(alertmanagerPayload());
    expect(status).toBe(200);
    expect(delivered.map((d) => d.workflowId)).toEqual(['rollout:checkout-v2:prod', 'rollout:search-v3:staging']);
    expect(delivered[0]!.input).toMatchObject({ alert: 'HighErrorRate', status: 'firing', id: 'alertmanager:1a30ba71cca2921f:firing:2025-05-06T10:21:45.828Z' });
    expect(json).toEqual({
      received: 2,
      delivered: 2,
      results: [
        { alert: 'HighErrorRate', fingerprint: '1a30ba71cca2921f', status: 'firing', workflowId: 'rollout:checkout-v2:prod', outcome: 'delivered' },
        { alert: 'HighErrorRate', fingerprint: 'bc97ff14869b13e3', status: 'firing', workflowId: 'rollout:search-v3:staging', outcome: 'delivered' },
      ],
    });
  });

  it('still delivers the other alerts when one rollout is not found or one alert names no rollout, and answers 200', async () => {
    const payload = alertmanagerPayload();
    payload.alerts.push({ status: 'firing', labels: { alertname: 'DiskFull' }, startsAt: '2025-05-06T10:00:00Z', fingerprint: 'ffff000011112222' });
    deliver = async (id) => (id === 'rollout:checkout-v2:prod' ? 'not-found' : 'delivered');
    const { status, json } = await post(payload);
    expect(status).toBe(200);
    expect(json.delivered).toBe(1);
    expect(json.results.map((r) => [r.outcome, r.detail])).toEqual([
      ['not-found', 'no running rollout rollout:checkout-v2:prod'],
      ['delivered', undefined],
      ['unroutable', 'the alert names no rollout: add label canary_rollout (a workflow id) or labels flag and environment'],
    ]);
  });

  it('answers 503 when a delivery failed in a way a retry may fix, after delivering the rest', async () => {
    deliver = async (id) => {
      if (id === 'rollout:checkout-v2:prod') throw new Error('14 UNAVAILABLE: connection refused');
      return 'delivered';
    };
    const { status, json } = await post(alertmanagerPayload());
    expect(status).toBe(503);
    expect(delivered).toHaveLength(2);
    expect(json.results.map((r) => r.outcome)).toEqual(['failed', 'delivered']);
    expect(json.results[0]!.detail).toBe('14 UNAVAILABLE: connection refused');
  });

  it('answers 400 naming the problem for a body that is not JSON or not a payload, delivering nothing', async () => {
    expect(await post('{"alerts": [')).toEqual({ status: 400, json: { error: 'body: expected a JSON Alertmanager webhook payload' } });
    expect(await post({ version: '4', alerts: [{ status: 'firing', labels: {} }] })).toEqual({
      status: 400,
      json: { error: 'alerts[0].startsAt: expected an RFC 3339 time string' },
    });
    expect(delivered).toHaveLength(0);
  });

  it('answers 404 for other paths, 405 for other methods, 200 on /healthz', async () => {
    expect((await fetch(`${intake.url}/nope`, { method: 'POST' })).status).toBe(404);
    const get = await fetch(`${intake.url}/alerts`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(`${intake.url}/healthz`)).status).toBe(200);
  });

  it('refuses a body larger than the limit with 413, however it is split into chunks', async () => {
    const small = await startAlertIntake({ port: 0, deliver: async () => 'delivered', maxBodyBytes: 64 });
    try {
      expect((await post(alertmanagerPayload(), small.url)).status).toBe(413);
      const big = alertmanagerPayload();
      big.commonAnnotations = { description: 'x'.repeat(512 * 1024) };
      expect((await post(big, small.url)).status).toBe(413);
    } finally {
      await small.close();
    }
  });

  describe('with a bearer token', () => {
    let guarded: AlertIntake;
    beforeAll(async () => {
      guarded = await startAlertIntake({ port: 0, deliver: async () => 'delivered', bearerTokenEnv: 'TEST_INTAKE_TOKEN', env });
    });
    afterAll(async () => {
      await guarded.close();
    });

    it('refuses requests without the token or with another one (401), and accepts the right one', async () => {
      env.TEST_INTAKE_TOKEN = 'tkn-5f8d0c2e9a';
      expect((await post(alertmanagerPayload(), guarded.url)).status).toBe(401);
      expect((await post(alertmanagerPayload(), guarded.url, { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await post(alertmanagerPayload(), guarded.url, { authorization: 'Bearer tkn-5f8d0c2e9a' })).status).toBe(200);
    });

    it('fails closed with 500 naming the variable when the token variable is not set', async () => {
      delete env.TEST_INTAKE_TOKEN;
      const { status, json } = await post(alertmanagerPayload(), guarded.url, { authorization: 'Bearer anything' });
      expect(status).toBe(500);
      expect(json.error).toBe("the intake's bearer token variable TEST_INTAKE_TOKEN is not set; set it where the intake runs");
    });
  });
});

describe('alert intake delivering to rollouts on the dev server', () => {
  let temporal: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let intake: AlertIntake;
  const taskQueue = 'alert-intake';
  const root = mkdtempSync(join(tmpdir(), 'canary-alert-intake-'));
  const fixtures = resolve(__dirname, '..', 'fixtures');

  beforeAll(async () => {
    temporal = await createDevServerEnv();
    const scenario = loadScenarioFile(join(fixtures, 'scenarios', 'mini-happy.yaml'));
    worker = await createWorker({
      connection: temporal.nativeConnection,
      taskQueue,
      workflowBundle: workflowBundle(),
      rolloutDeps: createRolloutDeps({ scenario, flagFileRoot: root, configFile: join(root, 'config.json') }),
    });
    running = worker.run();
    intake = await startAlertIntake({ port: 0, deliver: temporalAlertDelivery(temporal.client) });
  });
  afterAll(async () => {
    await intake?.close();
    worker?.shutdown();
    await running;
    await temporal?.teardown();
  });

  it('signals the alert to the rollout named by flag and environment, whose trigger rolls it back; an unknown rollout is not-found', async () => {
    const loaded = await loadPlanFile(join(fixtures, 'plans', 'mini.yaml'));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const plan = {
      ...loaded.plan,
      providers: { ...loaded.plan.providers, flags: { flagd: { type: 'flagd-file' as const, path: join(root, 'flags.json') } } },
      triggers: [...loaded.plan.triggers, { name: 'security-alert', when: { kind: 'alert' as const, alert: 'SecurityAlert' }, action: 'rollback' as const }],
    };
    const handle = await startRollout(temporal.client, plan, { taskQueue });
    expect(handle.workflowId).toBe('rollout:checkout-v2:prod');

    const payload: AlertmanagerPayload = {
      version: '4',
      status: 'firing',
      receiver: 'canary',
      alerts: [
        { status: 'firing', labels: { alertname: 'SecurityAlert', flag: 'checkout-v2', environment: 'prod' }, startsAt: '2025-05-06T10:00:00Z', fingerprint: 'aaaa111122223333' },
        { status: 'firing', labels: { alertname: 'SecurityAlert', canary_rollout: 'rollout:gone:prod' }, startsAt: '2025-05-06T10:00:00Z', fingerprint: 'bbbb111122223333' },
      ],
    };
    const response = await fetch(`${intake.url}/alerts`, { method: 'POST', body: JSON.stringify(payload) });
    const answer = (await response.json()) as AlertIntakeAnswer;
    expect(response.status).toBe(200);
    expect(answer.results.map((r) => `${r.workflowId} ${r.outcome}`)).toEqual(['rollout:checkout-v2:prod delivered', 'rollout:gone:prod not-found']);

    const result = await rolloutResult(handle);
    expect(result.outcome).toBe('rolled_back');
    expect(result.decisions.find((d) => d.action === 'rollback')?.reason).toContain('trigger security-alert fired');
  });

  it('runs as `canary alert-intake` until interrupted, delivering to the rollout named by canary_rollout', async () => {
    const loaded = await loadPlanFile(join(fixtures, 'plans', 'mini.yaml'));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const plan = {
      ...loaded.plan,
      providers: { ...loaded.plan.providers, flags: { flagd: { type: 'flagd-file' as const, path: join(root, 'flags-cmd.json') } } },
      triggers: [...loaded.plan.triggers, { name: 'security-alert', when: { kind: 'alert' as const, alert: 'SecurityAlert' }, action: 'rollback' as const }],
    };
    const handle = await startRollout(temporal.client, plan, { taskQueue, workflowId: 'rollout:checkout-v2:alert-command' });

    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } };
    let interrupt = () => undefined as void;
    const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
    const exited = main(['alert-intake', '--port', '0', '--token-env', 'ALERT_TOKEN'], io, { env: { TEMPORAL_ADDRESS: temporal.address, ALERT_TOKEN: 's3cret' }, interrupted });
    let url: string | undefined;
    for (let i = 0; i < 100 && !url; i++) {
      url = /listening on (\S+)/.exec(out.join(''))?.[1];
      if (!url) await new Promise((r) => setTimeout(r, 100));
    }
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/alerts$/);

    const payload = {
      version: '4',
      status: 'firing',
      receiver: 'canary',
      alerts: [{ status: 'firing', labels: { alertname: 'SecurityAlert', canary_rollout: handle.workflowId }, startsAt: '2025-05-06T11:00:00Z' }],
    };
    const unauthorized = await fetch(url as string, { method: 'POST', body: JSON.stringify(payload) });
    expect(unauthorized.status).toBe(401);
    const response = await fetch(url as string, { method: 'POST', body: JSON.stringify(payload), headers: { authorization: 'Bearer s3cret' } });
    expect(response.status).toBe(200);
    expect((await rolloutResult(handle)).outcome).toBe('rolled_back');

    interrupt();
    expect(await exited).toBe(0);
    expect(err.join('')).toBe('');
  });
});
