/**
 * The rollout workflow's messages. Every operation exists as an Update (validated: a refused approval is rejected
 * with a reason and writes nothing to history) and as a Signal (so `temporal workflow signal` and the Temporal UI work
 * too; a refused signal is recorded in the ops log as refused). Plus a `status` query.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OperatorCommand, OpsLogEntry, Outcome, RolloutResult, RolloutStatus } from '../domain/types';
import type { Plan } from '../plan/schema';

/** Every message may carry an id; a repeated id is ignored (also across continue-as-new). */
interface MessageBase {
  id?: string;
}

export interface ApproveInput extends MessageBase {
  role: string;
  by: string;
  /** `phase:<name>`, `budget:<name>` or `hold`; default: whatever is waiting for this role. */
  subject?: string;
  reason?: string;
  /** A JWS over the approval by the approver's key (verified by the worker before it counts). */
  signature?: string;
}

export interface ConsumeTokenInput extends MessageBase {
  token: string;
  by: string;
  role: string;
  signature?: string;
}

export interface AttestInput extends MessageBase {
  check: string;
  by: string;
  note?: string;
}

export interface ReportValueInput extends MessageBase {
  name: string;
  value: string | number | boolean;
  by: string;
}

export interface OperatorInput extends MessageBase {
  command: OperatorCommand;
  by: string;
  role?: string;
  reason?: string;
}

export interface IncidentInput extends MessageBase {
  severity: string;
  title: string;
  status?: 'open' | 'resolved';
}

export interface AlertInput extends MessageBase {
  alert: string;
  status: 'firing' | 'resolved';
  labels?: Record<string, string>;
}

export interface SpendInput extends MessageBase {
  budget: string;
  total: number;
}

export interface TaskResultInput extends MessageBase {
  task: string;
  scope: string;
  ok: boolean;
  by: string;
  detail?: string;
}

/** What an accepted update answers: the ops-log lines it caused and the status after it. */
export interface MessageOutcome {
  accepted: true;
  status: RolloutStatus;
  log: OpsLogEntry[];
}

export interface RolloutStatusView {
  rolloutId: string;
  planId: string;
  status: RolloutStatus;
  outcome?: Outcome;
  phase: string;
  phaseIndex: number;
  percent: number;
  phaseEnteredAt: number;
  minimumEndsAt?: number;
  waitingFor: string[];
  hold?: { reason: string; since: number; deadline?: number; decidedBy?: string[] };
  gates: Array<{ name: string; satisfied: boolean; detail?: string }>;
  opsLog: OpsLogEntry[];
}

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
