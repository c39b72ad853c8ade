import { ScenarioMetricSource } from '../../../src/providers/metrics/scenario-source';
import { Scenario, type ScenarioInput } from '../../../src/simulate/scenario';
import { describeMetricSourceContract } from './metric-source.contract';

/** A scenario source whose `contract_metric` is `spec` for the whole rollout. */
function sourceWith(spec: NonNullable<ScenarioInput['metrics']>[string]): ScenarioMetricSource {
  return new ScenarioMetricSource(Scenario.parse({ duration: '1h', metrics: { contract_metric: spec } }));
}

// The scenario source replays recorded readings, so "bad data" and "down" are segments of the scenario; the source
// itself is always reachable, which is why isOnline() is not expected to turn false (downIsScripted).
describeMetricSourceContract('ScenarioMetricSource', {
  healthy: () => ({ source: sourceWith(0.012), query: 'checkout_error_rate', expected: 0.012 }),
  noData: () => ({ source: sourceWith([{ from: '0s', gap: true }]), query: 'checkout_error_rate' }),
  badData: () => ({ source: sourceWith([{ from: '0s', invalid: 'NaN from 0/0' }]), query: 'checkout_error_rate' }),
  down: () => ({ source: sourceWith([{ from: '0s', error: 'connection refused' }]), query: 'checkout_error_rate' }),
  downIsScripted: true,
});
