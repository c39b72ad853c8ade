/**
 * The rollout workflow's messages. Every operation exists as an Update (validated: a refused approval is rejected
 * with a reason and writes nothing to history) and as a Signal (so `temporal workflow signal` and the Temporal UI work
 * too; a refused signal is recorded in the ops log as refused). Plus a `status` query.
 *
 * Every payload is hostile until parsed: each input has a zod schema (bounded strings, finite numbers, known
 * commands) that the workflow applies before anything else, and a payload that does not parse is refused in the ops
 * log with the reason — it never fails a workflow task.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { RolloutStatusView as DomainStatusView } from '../domain/status';
import type { OperatorCommand, OpsLogEntry, RolloutResult, RolloutStatus } from '../domain/types';
import type { Plan } from '../plan/schema';

/** Longest free-text field a message may carry (reasons, notes, details): longer is refused, never stored whole. */
export const MAX_TEXT = 2_000;

const text = (max: number) => z.string().max(max, `at most ${max} characters`);
const name = text(200).min(1, 'must not be empty');
const identity = text(320).min(1, 'must not be empty');
const freeText = text(MAX_TEXT);

/** Every message may carry an id; a repeated id is ignored (also across continue-as-new). */
const MessageBase = z.object({ id: name.optional() });

export const ApproveInput = MessageBase.extend({
  role: name,
  by: identity,
  /** `phase:<name>`, `budget:<name>` or `hold`; default: whatever is waiting for this role. */
  subject: text(300).optional(),
  reason: freeText.optional(),
  /** A JWS over the approval by the approver's key (verified by the worker before it counts). */
  signature: text(20_000).optional(),
});
export type ApproveInput = z.infer<typeof ApproveInput>;

export const ConsumeTokenInput = MessageBase.extend({ token: name, by: identity, role: name, signature: text(20_000).optional() });
export type ConsumeTokenInput = z.infer<typeof ConsumeTokenInput>;

export const AttestInput = MessageBase.extend({ check: name, by: identity, note: freeText.optional() });
export type AttestInput = z.infer<typeof AttestInput>;

export const ReportValueInput = MessageBase.extend({
  name,
  value: z.union([freeText, z.number().finite(), z.boolean()]),
  by: identity,
});
export type ReportValueInput = z.infer<typeof ReportValueInput>;

export const OperatorInput = MessageBase.extend({
  command: z.enum(['pause', 'resume', 'abort', 'rollback', 'promote', 'force-promote', 'kill'] satisfies OperatorCommand[]),
  by: identity,
  role: name.optional(),
  reason: freeText.optional(),
});
export type OperatorInput = z.infer<typeof OperatorInput>;

export const IncidentInput = MessageBase.extend({
  severity: text(50).min(1, 'must not be empty'),
  title: text(500),
  status: z.enum(['open', 'resolved']).optional(),
});
export type IncidentInput = z.infer<typeof IncidentInput>;

export const AlertInput = MessageBase.extend({
  alert: name,
  status: z.enum(['firing', 'resolved']),
  labels: z
    .record(text(200), text(1_000))
    .refine((labels) => Object.keys(labels).length <= 100, 'at most 100 labels')
    .optional(),
});
export type AlertInput = z.infer<typeof AlertInput>;

export const SpendInput = MessageBase.extend({ budget: name, total: z.number().finite().min(0) });
export type SpendInput = z.infer<typeof SpendInput>;

export const TaskResultInput = MessageBase.extend({ task: name, scope: name, ok: z.boolean(), by: identity, detail: freeText.optional() });
export type TaskResultInput = z.infer<typeof TaskResultInput>;

/** What an accepted update answers: the ops-log lines it caused and the status after it. */
export interface MessageOutcome {
  accepted: true;
  status: RolloutStatus;
  log: OpsLogEntry[];
}

/** The status query's answer: computed by the domain (`statusOf`), waits as data beside their words. */
export type RolloutStatusView = DomainStatusView;

/**
 * What each message and query does, in one line: shown by the Temporal UI beside the handler (and by
 * `temporal workflow metadata`), so a person sending a signal from the UI knows what it takes.
 */
export const messageDescriptions: Record<string, string> = {
  approve: 'Approve what waits for a role: {"role", "by", "subject"?, "reason"?, "signature"?} — signed for roles that require it.',
  reject: 'Reject what waits for a role: {"role", "by", "subject"?, "reason"?, "signature"?}.',
  consumeToken: 'Consume a token once its conditions hold: {"token", "role", "by", "signature"?}.',
  attest: 'Vouch for a check that takes an attestation: {"check", "by", "note"?}.',
  reportValue: 'Report a value a condition reads: {"name", "value", "by"}.',
  operator: 'Operator command: {"command": pause|resume|promote|force-promote|rollback|abort|kill, "by", "role", "reason"?} — needs a role the plan grants.',
  incident: 'An incident for incident triggers: {"severity", "title", "status"?: open|resolved}.',
  alert: 'An alert for alert triggers: {"alert", "status": firing|resolved, "labels"?}.',
  spend: 'The spend so far against a budget: {"budget", "total"}.',
  taskResult: 'The result of a manual task: {"task", "scope", "ok", "by", "detail"?}.',
  status: 'Where the rollout is: phase, percent, what it waits for (as data and in words), gates, hold, the latest ops log.',
  result: 'Every decision so far with its time, and the full ops log.',
  plan: 'The plan the rollout runs, as validated when it started.',
};

export const approveUpdate = defineUpdate<MessageOutcome, [ApproveInput]>('approve');
export const rejectUpdate = defineUpdate<MessageOutcome, [ApproveInput]>('reject');
export const consumeTokenUpdate = defineUpdate<MessageOutcome, [ConsumeTokenInput]>('consumeToken');
export const attestUpdate = defineUpdate<MessageOutcome, [AttestInput]>('attest');
export const reportValueUpdate = defineUpdate<MessageOutcome, [ReportValueInput]>('reportValue');
export const operatorUpdate = defineUpdate<MessageOutcome, [OperatorInput]>('operator');

export const approveSignal = defineSignal<[ApproveInput]>('approve');
export const rejectSignal = defineSignal<[ApproveInput]>('reject');
export const consumeTokenSignal = defineSignal<[ConsumeTokenInput]>('consumeToken');
export const attestSignal = defineSignal<[AttestInput]>('attest');
export const reportValueSignal = defineSignal<[ReportValueInput]>('reportValue');
export const operatorSignal = defineSignal<[OperatorInput]>('operator');
export const incidentSignal = defineSignal<[IncidentInput]>('incident');
export const alertSignal = defineSignal<[AlertInput]>('alert');
export const spendSignal = defineSignal<[SpendInput]>('spend');
export const taskResultSignal = defineSignal<[TaskResultInput]>('taskResult');

export const statusQuery = defineQuery<RolloutStatusView>('status');
/** The whole result so far (every decision, the full ops log) — what the rollout returns when it ends. */
export const resultQuery = defineQuery<RolloutResult>('result');
/** The plan the rollout runs (as validated when it started). */
export const planQuery = defineQuery<Plan>('plan');
