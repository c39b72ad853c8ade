/**
 * Builds the flag store a plan's `providers.flags.<name>` entry describes.
 */
import { resolve } from 'node:path';
import type { Plan } from '../../plan/schema';
import type { FlagStore } from './flag-store';
import { FlagdFileStore } from './flagd-file-store';
import { UnleashFlagStore } from './unleash-store';
import { WebhookFlagStore } from './webhook-flag-store';

/** One entry of a plan's `providers.flags`. */
export type FlagProviderConfig = Plan['providers']['flags'][string];

export interface CreateFlagStoreOptions {
  /** Directory that relative `flagd-file` paths are resolved against; defaults to the working directory. */
  root?: string;
  /** Where token environment variables are read at the moment of each request; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The store for one flag provider: a {@link FlagdFileStore} on `path` (relative to `root`), an
 * {@link UnleashFlagStore} on the plan's project and environment, or a {@link WebhookFlagStore}. Nothing is
 * contacted and no secret is read here; the provider name only appears in errors.
 */
export function createFlagStore(name: string, config: FlagProviderConfig, options: CreateFlagStoreOptions = {}): FlagStore {
  switch (config.type) {
    case 'flagd-file':
      return new FlagdFileStore(resolve(options.root ?? '.', config.path));
    case 'unleash':
      return new UnleashFlagStore({ url: config.url, tokenEnv: config.tokenEnv, project: config.project, environment: config.environment, env: options.env });
    case 'webhook':
      return new WebhookFlagStore({ url: config.url, tokenEnv: config.tokenEnv, env: options.env });
    default: {
      const unknown: { type?: unknown } = config;
      throw new Error(`flag provider ${name} has type ${String(unknown.type)}, which this version cannot write; use flagd-file, unleash or webhook`);
    }
  }
}

/**
 * Which store a provider entry writes, as a stable string: the type and the resolved location (file path, server
 * and project and environment, URL). Two plans that name one flag file or server differently get the same identity,
 * so one flag is locked once whatever the provider is called.
 */
export function flagStoreIdentity(config: FlagProviderConfig, options: Pick<CreateFlagStoreOptions, 'root'> = {}): string {
  switch (config.type) {
    case 'flagd-file':
      return `flagd-file:${resolve(options.root ?? '.', config.path)}`;
    case 'unleash':
      return `unleash:${config.url.replace(/\/+$/, '')}|${config.project ?? 'default'}|${config.environment}`;
    case 'webhook':
      return `webhook:${config.url}`;
    default:
      return JSON.stringify(config);
  }
}
