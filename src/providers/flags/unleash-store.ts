/**
 * A flag store backed by the Unleash Admin API (https://docs.getunleash.io/reference/api/unleash).
 *
 * A rollout flag is an Unleash feature in the plan's project. Its percentage is a gradual rollout — a
 * `flexibleRollout` strategy in the plan's environment with `rollout` = the percent as a string,
 * `stickiness: "default"` and `groupId` = the flag key — and `enabled` is the feature's on/off switch in that
 * environment, so the kill switch turns the feature off without touching the strategy. Requests used:
 *
 * - `GET    /api/admin/projects/{project}/features/{feature}` (404 → the flag does not exist)
 * - `POST   /api/admin/projects/{project}/features` (creates a missing feature, type `release`)
 * - `POST   /api/admin/projects/{project}/features/{feature}/environments/{environment}/strategies`
 * - `PUT    /api/admin/projects/{project}/features/{feature}/environments/{environment}/strategies/{id}`
 * - `POST   /api/admin/projects/{project}/features/{feature}/environments/{environment}/on` and `/off`
 */
import type { FlagRolloutState, FlagStore } from './flag-store';

const DEFAULT_TIMEOUT_MS = 10_000;
const STRATEGY = 'flexibleRollout';

export interface UnleashFlagStoreOptions {
  /** The Unleash server, e.g. `https://unleash.example.com` or its API URL `https://unleash.example.com/api`. */
  url: string;
  /** NAME of the environment variable holding an Unleash admin API token (or personal access token). */
  tokenEnv: string;
  project: string;
  environment: string;
  /** Where the token is looked up, at the moment of each request; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

interface UnleashStrategy {
  id: string;
  name: string;
  title?: string | null;
  disabled?: boolean | null;
  constraints?: unknown[];
  variants?: unknown[];
  parameters?: Record<string, string>;
}

interface UnleashEnvironment {
  name: string;
  enabled: boolean;
  strategies: UnleashStrategy[];
}

interface UnleashFeature {
  name: string;
  environments: UnleashEnvironment[];
}

/**
 * Reads and writes rollout flags as Unleash gradual rollouts.
 *
 * - Constraints an operator put on the rollout strategy (a cohort's user ids, a segment's context field) are kept
 *   when the percentage changes, which is how a per-cohort flag is limited to its cohort.
 * - Only whole percentages can be written: Unleash SDKs place each user in one of 100 buckets, so 0.5% cannot be
 *   served; writing one throws a RangeError instead of silently rounding.
 * - Other strategies on the feature (allow-lists, constraints an operator added) are left alone; the store owns
 *   only the `flexibleRollout` strategy whose `groupId` is the flag key, and keeps its constraints.
 * - A flag that does not exist is created on first write. An environment the project does not have is an error.
 * - Every write is read back; errors name the server, request and status and never contain the token.
 */
export class UnleashFlagStore implements FlagStore {
  private readonly baseUrl: string;

  constructor(private readonly options: UnleashFlagStoreOptions) {
    // SDKs are configured with the server's `/api` URL; accept that as well as the bare server URL.
    this.baseUrl = options.url.replace(/\/+$/, '').replace(/\/api$/, '');
  }

  /** The flag's state in the plan's environment, or undefined when the feature does not exist in the project. */
  async read(flagKey: string): Promise<FlagRolloutState | undefined> {
    const feature = await this.feature(flagKey);
    if (!feature) return undefined;
    const environment = this.environmentOf(feature);
    const strategy = rolloutStrategy(environment, flagKey);
    const percent = strategy ? Number(strategy.parameters?.rollout ?? 0) : 0;
    return { enabled: environment.enabled, percent: Number.isFinite(percent) ? percent : 0 };
  }

  /** Creates the feature if needed, sets the rollout strategy, switches the environment on or off, reads back. */
  async write(flagKey: string, state: FlagRolloutState): Promise<void> {
    if (!(state.percent >= 0 && state.percent <= 100)) {
      throw new RangeError(`flag "${flagKey}": percent must be between 0 and 100, got ${state.percent}`);
    }
    if (!Number.isInteger(state.percent)) {
      throw new RangeError(
        `flag "${flagKey}": Unleash gradual rollouts take whole percents, got ${state.percent}; use a whole percentage in the plan or a flagd-file/webhook provider`,
      );
    }
    let feature = await this.feature(flagKey);
    if (!feature) {
      await this.call('POST', `${this.projectPath()}/features`, { name: flagKey, type: 'release', description: 'Rollout flag managed by canary' });
      feature = await this.feature(flagKey);
      if (!feature) throw new Error(`Unleash ${this.baseUrl} created feature "${flagKey}" in project "${this.options.project}" but cannot read it back`);
    }
    const environment = this.environmentOf(feature);
    const strategiesPath = `${this.environmentPath(flagKey)}/strategies`;
    const existing = rolloutStrategy(environment, flagKey);
    const parameters = { ...existing?.parameters, rollout: String(state.percent), stickiness: existing?.parameters?.stickiness ?? 'default', groupId: flagKey };
    if (existing) {
      await this.call('PUT', `${strategiesPath}/${encodeURIComponent(existing.id)}`, {
        name: STRATEGY,
        title: existing.title ?? undefined,
        disabled: false,
        constraints: existing.constraints ?? [],
        variants: existing.variants ?? [],
        parameters,
      });
    } else {
      await this.call('POST', strategiesPath, { name: STRATEGY, constraints: [], parameters });
    }
    if (environment.enabled !== state.enabled) {
      await this.call('POST', `${this.environmentPath(flagKey)}/${state.enabled ? 'on' : 'off'}`);
    }
    const readBack = await this.read(flagKey);
    if (readBack?.enabled !== state.enabled || readBack.percent !== state.percent) {
      throw new Error(`flag "${flagKey}": Unleash ${this.baseUrl} accepted ${JSON.stringify(state)} but reads back ${JSON.stringify(readBack)}`);
    }
  }

  private async feature(flagKey: string): Promise<UnleashFeature | undefined> {
    const result = await this.call('GET', `${this.projectPath()}/features/${encodeURIComponent(flagKey)}`, undefined, { allowNotFound: true });
    if (result === undefined) return undefined;
    const feature = result as Partial<UnleashFeature>;
    if (!Array.isArray(feature.environments)) {
      throw new Error(`Unleash ${this.baseUrl} answered feature "${flagKey}" without environments; is the url the Unleash server's base URL?`);
    }
    return feature as UnleashFeature;
  }

  private environmentOf(feature: UnleashFeature): UnleashEnvironment {
    const environment = feature.environments.find((e) => e.name === this.options.environment);
    if (!environment) {
      const known = feature.environments.map((e) => e.name).join(', ') || 'none';
      throw new Error(
        `Unleash project "${this.options.project}" has no environment "${this.options.environment}" for feature "${feature.name}" (it has: ${known}); fix the plan's environment or enable it in the project`,
      );
    }
    return { ...environment, strategies: environment.strategies ?? [] };
  }

  private projectPath(): string {
    return `/api/admin/projects/${encodeURIComponent(this.options.project)}`;
  }

  private environmentPath(flagKey: string): string {
    return `${this.projectPath()}/features/${encodeURIComponent(flagKey)}/environments/${encodeURIComponent(this.options.environment)}`;
  }

  /** One Admin API request; the parsed JSON body (undefined for an empty body, or for 404 when allowed). */
  private async call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options: { allowNotFound?: boolean } = {}): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json', authorization: this.token() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new Error(`cannot reach Unleash at ${this.baseUrl} (${method} ${path}): ${cause}`);
    }
    const text = await response.text();
    if (response.status === 404 && options.allowNotFound) return undefined;
    if (!response.ok) {
      const hint =
        response.status === 401 || response.status === 403
          ? `; check that ${this.options.tokenEnv} holds an admin API token with access to project "${this.options.project}"`
          : '';
      throw new Error(`Unleash ${this.baseUrl} answered ${response.status} to ${method} ${path}: ${errorMessage(text)}${hint}`);
    }
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`Unleash ${this.baseUrl} answered ${method} ${path} with a body that is not JSON: ${truncate(text)}`);
    }
  }

  private token(): string {
    const value = (this.options.env ?? process.env)[this.options.tokenEnv];
    if (!value) throw new Error(`environment variable ${this.options.tokenEnv} is not set; it must hold an Unleash admin API token`);
    return value;
  }
}

function rolloutStrategy(environment: UnleashEnvironment, flagKey: string): UnleashStrategy | undefined {
  return environment.strategies.find((s) => s.name === STRATEGY && s.parameters?.groupId === flagKey);
}

/** Unleash errors are `{ name, message, details }`; the message is the useful part. */
function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: show the text itself
  }
  return truncate(text);
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine || '(empty body)';
}
