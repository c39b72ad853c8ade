/**
 * Driving a running rollout with a scenario's inputs, shared by the equivalence test and bench/history.ts: per-role
 * signing keys the worker trusts, each machine event sent as the signal a person or system would send, and the
 * histories of every run of a continue-as-new chain.
 */
import type { Client } from '@temporalio/client';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { RolloutEvent } from '../../src/domain/types';
import type { Plan } from '../../src/plan/schema';
import { type ApproverKeys, signDecision } from '../../src/providers/identity/approval-signature';
import * as m from '../../src/workflows/messages';

export type Signer = (event: Extract<RolloutEvent, { type: 'approval' | 'consume-token' }>, workflowId: string) => Promise<string>;

/** One key per role of the plan, trusted by the worker (`approverKeys`); messages marked verified are signed with it. */
export async function scenarioSigningKeys(plan: Plan): Promise<{ approverKeys: ApproverKeys; sign: Signer }> {
  const privateKeys = new Map<string, JWK>();
  const publicKeys = new Map<string, JWK>();
  for (const role of Object.keys(plan.roles)) {
    const pair = await generateKeyPair('ES256');
    privateKeys.set(role, { ...(await exportJWK(pair.privateKey)), kid: role, alg: 'ES256' });
    publicKeys.set(role, { ...(await exportJWK(pair.publicKey)), kid: role, alg: 'ES256' });
  }
  return {
    approverKeys: { keySet: async (role) => ({ keys: publicKeys.has(role) ? [publicKeys.get(role) as JWK] : [] }) },
    sign: async (event, workflowId) => {
      const key = privateKeys.get(event.role);
      if (!key) throw new Error(`no key for role ${event.role}`);
      const decision =
        event.type === 'approval'
          ? { rollout: workflowId, action: event.decision, role: event.role, by: event.by, id: event.id, subject: event.subject }
          : { rollout: workflowId, action: 'consume-token' as const, role: event.role, by: event.by, id: event.id, token: event.token };
      return signDecision(decision, key, { now: event.at });
    },
  };
}

/** Sends one machine event to the rollout as its signal; throws for events no person or system sends. */
export async function signalRolloutEvent(client: Client, workflowId: string, event: RolloutEvent, sign: Signer): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  switch (event.type) {
    case 'approval': {
      const signature = event.verified ? await sign(event, workflowId) : undefined;
      const input = { id: event.id, role: event.role, by: event.by, subject: event.subject, reason: event.reason, signature };
      return event.decision === 'approve' ? handle.signal(m.approveSignal, input) : handle.signal(m.rejectSignal, input);
    }
    case 'consume-token': {
      const signature = event.verified ? await sign(event, workflowId) : undefined;
      return handle.signal(m.consumeTokenSignal, { id: event.id, token: event.token, by: event.by, role: event.role, signature });
    }
    case 'attestation':
      return handle.signal(m.attestSignal, { id: event.id, check: event.check, by: event.by, note: event.note });
    case 'report-value':
      return handle.signal(m.reportValueSignal, { id: event.id, name: event.name, value: event.value, by: event.by });
    case 'incident':
      return handle.signal(m.incidentSignal, { id: event.id, severity: event.severity, title: event.title, status: event.status });
    case 'alert':
      return handle.signal(m.alertSignal, { id: event.id, alert: event.alert, status: event.status, labels: event.labels });
    case 'spend':
      return handle.signal(m.spendSignal, { id: event.id, budget: event.budget, total: event.total });
    case 'operator':
      return handle.signal(m.operatorSignal, { id: event.id, command: event.command, by: event.by, role: event.role, reason: event.reason });
    case 'task-result':
      return handle.signal(m.taskResultSignal, { task: event.task, scope: event.scope, ok: event.ok, by: event.by ?? 'someone', detail: event.detail });
    default:
      throw new Error(`a ${event.type} event is not sent by anyone outside the rollout`);
  }
}

