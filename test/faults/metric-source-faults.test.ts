/**
 * A metric source failure never counts as a pass. A real dev server and worker read a service's /metrics through the
 * scrape source; while the service is down, answers 500, serves garbage, NaN, an empty page or answers too slowly, the
 * rollout stays in its phase with the gate unmet, past its minimum duration; once the service is healthy again the same
 * rollout advances (so the test would notice a rollout that never advances for another reason).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rolloutStatus, startRollout } from '../../src/client';
import { parsePlanText } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { startFaultWorld, waitForStatus, type FaultWorld } from './harness';

type Fault = 'down' | '500' | 'garbage' | 'nan' | 'empty' | 'slow';

function plan(fault: Fault, port: number): Plan {
  const text = `
apiVersion: canary/v1
id: metric-faults
name: Metric faults
owner: owner@example.com
target: { flags: [flag-${fault}], provider: flagd, environment: prod }
providers:
  flags: { flagd: { type: flagd-file, path: flags.json } }
  metrics: { svc-${fault}: { type: scrape, url: "http://127.0.0.1:${port}/${fault}/metrics", interval: 1s } }
metrics:
  error_rate:
    source: svc-${fault}
    query: sum(rate(app_errors_total[5s])) / sum(rate(app_requests_total[5s]))
    unit: ratio
analysis: { interval: 1s, inconclusiveLimit: 1h, consecutiveErrorLimit: 1000 }
gates:
  - name: errors-ok
    when: { kind: threshold, metric: error_rate, op: "<", value: 0.01, for: 2s }
phases:
  - { name: canary-10, percent: 10, minDuration: 2s }
  - { name: canary-50, percent: 50, minDuration: 1h }
  - { name: full, percent: 100, minDuration: 2s }
`;
  const loaded = parsePlanText(text, 'metric-faults.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.plan;
}

describe('a metric source that fails', () => {
  let world: FaultWorld;
  let service: Server;
  let port = 0;
  const broken = new Set<Fault>();
  const started = Date.now();

  beforeAll(async () => {
    service = createServer((req, res) => {
      const fault = (req.url ?? '').split('/')[1] as Fault;
      const seconds = (Date.now() - started) / 1000;
      const healthy = `# TYPE app_requests_total counter\napp_requests_total ${Math.round(seconds * 100)}\n# TYPE app_errors_total counter\napp_errors_total 0\n`;
      if (!broken.has(fault)) return void res.writeHead(200, { 'content-type': 'text/plain' }).end(healthy);
      switch (fault) {
        case 'down':
          return void req.socket.destroy();
        case '500':
          return void res.writeHead(500).end('internal error');
        case 'garbage':
          return void res.writeHead(200, { 'content-type': 'text/plain' }).end('<html><body>maintenance</body></html>');
        case 'nan':
          return void res.writeHead(200).end(healthy.replace('app_errors_total 0', 'app_errors_total NaN'));
        case 'empty':
          return void res.writeHead(200, { 'content-type': 'text/plain' }).end('');
        case 'slow':
          return void setTimeout(() => res.writeHead(200).end(healthy), 12_000).unref();
      }
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    port = (service.address() as AddressInfo).port;
    world = await startFaultWorld({ taskQueue: 'faults-metrics' });
    await world.startWorker();
  });
  afterAll(async () => {
    await world?.teardown();
    service?.closeAllConnections();
    await new Promise((resolve) => service?.close(resolve));
  });

  it.each<Fault>(['down', '500', 'garbage', 'nan', 'empty', 'slow'])('%s: holds the phase with the gate unmet, then advances once the service is healthy', async (fault) => {
    const handle = await startRollout(world.env.client, plan(fault, port), { workflowId: `metrics-${fault}`, taskQueue: world.taskQueue });
    // Healthy for the provider check, broken from the start of the phase: past its 2 s minimum and the gate's 2 s, it
    // must not have moved.
    await waitForStatus(handle, (s) => s.percent === 10, 30_000);
    broken.add(fault);
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const held = await rolloutStatus(handle);
    expect(held.percent).toBe(10);
    expect(held.gates).toEqual([expect.objectContaining({ name: 'errors-ok', satisfied: false })]);
    expect(held.opsLog.some((e) => e.action === 'advance')).toBe(false);

    broken.delete(fault);
    const advanced = await waitForStatus(handle, (s) => s.percent === 50, 40_000);
    expect(advanced.opsLog.find((e) => e.action === 'advance')?.reason).toMatch(/error_rate = 0/);
    await handle.terminate('test over');
  }, 90_000);
});
