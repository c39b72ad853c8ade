/**
 * The machine's entry points for tests that hold a plan as written: each plan is compiled once (as the workflow and
 * the simulator do at their start) and the compiled plan is passed on. Everything else is the machine's own.
 */
import type { CompiledPlan } from '../../src/domain/compiled-plan';
import * as machine from '../../src/domain/machine';
import type { Plan } from '../../src/domain/plan-schema';
import * as status from '../../src/domain/status';
import type { MessageEvent, RolloutEvent, RolloutState } from '../../src/domain/types';
import { compilePlan } from '../../src/plan/compile';

const compiledPlans = new WeakMap<Plan, CompiledPlan>();

/** The plan compiled, once per plan object. */
export function compiled(plan: Plan): CompiledPlan {
  let c = compiledPlans.get(plan);
  if (!c) compiledPlans.set(plan, (c = compilePlan(plan)));
  return c;
}

export { initialState, isFinished, isSettled, grantedOperatorRoles, straightToSafety } from '../../src/domain/machine';
export const step = (plan: Plan, state: RolloutState, event: RolloutEvent) => machine.step(compiled(plan), state, event);
export const apply = (plan: Plan, state: RolloutState, event: RolloutEvent) => machine.apply(compiled(plan), state, event);
export const refusal = (plan: Plan, state: RolloutState, event: MessageEvent) => machine.refusal(compiled(plan), state, event);
export const updateRefusal = (plan: Plan, state: RolloutState, event: MessageEvent) => machine.updateRefusal(compiled(plan), state, event);
export const resultOf = (plan: Plan, state: RolloutState) => machine.resultOf(compiled(plan), state);
export const statusOf = (plan: Plan, state: RolloutState, rolloutId: string) => status.statusOf(compiled(plan), state, rolloutId);
