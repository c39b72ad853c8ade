import { parsePlanText, formatIssue } from '../../src/plan/load';
import type { Plan } from '../../src/plan/schema';
import { planTimeline } from '../../src/plan/timeline';

function plan(body: string): Plan {
  const result = parsePlanText(`apiVersion: canary/v1
id: t
name: Timeline
target: { flags: [f], provider: file, environment: prod }
providers: { flags: { file: { type: flagd-file, path: f.json } } }
roles: { po: { members: [po@example.com] }, ceo: { members: [ceo@example.com] } }
checks:
  - { name: wf9, when: { kind: attestation, check: wf9 } }
${body}`);
  if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
  return result.plan;
}

test('each phase starts when the minimum durations before it have passed; phases without one add nothing', () => {
  const timeline = planTimeline(
    plan(`phases:
  - { name: prelaunch, percent: 0, until: [wf9] }
  - { name: p1, percent: 10, minDuration: 2h }
  - { name: p2, percent: 25, minDuration: 4h }
  - { name: p3, percent: 50, minDuration: 6h }
  - { name: ga, percent: 100, permanent: true }
`),
  );
  expect(timeline.phases.map((p) => [p.name, p.earliestStart, p.earliestEnd])).toEqual([
    ['prelaunch', '0s', '0s'],
    ['p1', '0s', '2h'],
    ['p2', '2h', '6h'],
    ['p3', '6h', '12h'],
    ['ga', '12h', '12h'],
  ]);
  expect(timeline.minimumTotal).toBe('12h');
  expect(timeline.waitsFor).toEqual(['check wf9 (phase 1)']);
});

test('a token is listed before the phase it guards: the first phase by default', () => {
  const timeline = planTimeline(
    plan(`tokens:
  - { id: START, role: po, requires: [wf9] }
  - { id: GA, role: ceo, requires: [wf9], before: ga }
phases:
  - { name: canary, percent: 10 }
  - { name: ga, percent: 100 }
`),
  );
  expect(timeline.beforeStart.tokens.map((t) => t.id)).toEqual(['START']);
  expect(timeline.phases[0]?.tokens).toEqual([]);
  expect(timeline.phases[1]?.tokens.map((t) => t.id)).toEqual(['GA']);
  expect(timeline.phases[1]?.tokens[0]?.requires).toEqual([{ name: 'wf9', text: '"wf9" attested' }]);
  expect(timeline.waitsFor).toEqual(['token START (phase 1)', 'token GA (phase 2)']);
});

test('shared gates apply where useGates names them, or everywhere, the last phase included', () => {
  const timeline = planTimeline(
    plan(`gates:
  - { name: a, when: { kind: command, run: "true" } }
  - { name: b, when: { kind: command, run: "true" } }
phases:
  - { name: one, percent: 10, useGates: [b], gates: [{ name: own, when: { kind: command, run: "true" } }] }
  - { name: two, percent: 50 }
  - { name: ga, percent: 100, permanent: true }
`),
  );
  expect(timeline.phases.map((p) => p.gates.map((g) => `${g.name}${g.shared ? ' (shared)' : ''}`))).toEqual([
    ['b (shared)', 'own'],
    ['a (shared)', 'b (shared)'],
    ['a (shared)', 'b (shared)'],
  ]);
});

test('calendar constraints are described with their time zone', () => {
  const timeline = planTimeline(
    plan(`phases:
  - name: half
    percent: 50
    minDuration: 6h
    calendar: { timezone: Europe/Berlin, endOfDay: "18:00", allowedWindows: [{ days: [mon, fri], from: "09:00", to: "17:00" }] }
`),
  );
  expect(timeline.phases[0]?.calendar).toEqual([
    'changes only mon, fri 09:00–17:00 (Europe/Berlin)',
    'may also end at end of day, 18:00 (Europe/Berlin), before its minimum duration',
  ]);
});
