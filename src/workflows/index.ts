/**
 * Workflow entry points, bundled by the worker. Workflow code imports domain, plan types, @temporalio/workflow and
 * activities as types only (enforced by eslint).
 */
export { rolloutWorkflow } from './rollout';
export { flagLockWorkflow } from './flag-lock';
