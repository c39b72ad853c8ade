/**
 * A flag store that talks to any HTTP service implementing this small contract (also in docs/flags.md):
 *
 * | request | answer |
 * | --- | --- |
 * | `GET {url}/flags/{key}` | `200` with `{"enabled": boolean, "percent": number}`, or `404` when the flag does not exist |
 * | `PUT {url}/flags/{key}` with `{"enabled": boolean, "percent": number}` | any `2xx` once the state is stored |
 *
 * `{key}` is URL-encoded. Both requests carry `Authorization: Bearer <token>` when the plan names a `tokenEnv`.
 * `percent` is 0–100 and may have decimals; `enabled: false` means nobody gets the new variant.
 */
import type { FlagRolloutState, FlagStore } from './flag-store';

/** How long one request may take before the store gives up on it. */
const DEFAULT_TIMEOUT_MS = 10_000;

export interface WebhookFlagStoreOptions {
  /** Base URL of the service; `/flags/{key}` is appended. */
  url: string;
  /** NAME of the environment variable holding the bearer token; no Authorization header when absent. */
  tokenEnv?: string;
  /** Where the token is looked up, at the moment of each request; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Reads and writes rollout flags through the webhook contract above. A write is a PUT followed by a GET that must
 * return the state written. Errors name the service URL, the request and the status, and never contain the token;
 * a `tokenEnv` that is not set is an error naming the variable.
 */
export class WebhookFlagStore implements FlagStore {
  private readonly baseUrl: string;

  constructor(private readonly options: WebhookFlagStoreOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
  }

  /** The flag's state, or undefined when the service answers 404. */
  async read(flagKey: string): Promise<FlagRolloutState | undefined> {
    const response = await this.request('GET', flagKey);
    if (response.status === 404) return undefined;
    const body = await this.expectOk(response, 'GET', flagKey);
    const state = parseState(body);
    if (!state) {
      throw new Error(
        `flag service ${this.baseUrl} answered GET /flags/${flagKey} with ${truncate(body)}; expected {"enabled": boolean, "percent": 0–100}`,
      );
    }
    return state;
  }

  /** PUTs the state and verifies it with a GET; throws when either fails or the service reports something else. */
  async write(flagKey: string, state: FlagRolloutState): Promise<void> {
    if (!(state.percent >= 0 && state.percent <= 100)) {
      throw new RangeError(`flag "${flagKey}": percent must be between 0 and 100, got ${state.percent}`);
    }
    const response = await this.request('PUT', flagKey, { enabled: state.enabled, percent: state.percent });
    await this.expectOk(response, 'PUT', flagKey);
    const readBack = await this.read(flagKey);
    if (readBack?.enabled !== state.enabled || readBack.percent !== state.percent) {
      throw new Error(`flag "${flagKey}": flag service ${this.baseUrl} accepted ${JSON.stringify(state)} but reads back ${JSON.stringify(readBack)}`);
    }
  }

  private async request(method: 'GET' | 'PUT', flagKey: string, body?: FlagRolloutState): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    if (this.options.tokenEnv) headers.authorization = `Bearer ${this.token(this.options.tokenEnv)}`;
    const url = `${this.baseUrl}/flags/${encodeURIComponent(flagKey)}`;
    try {
      return await fetch(url, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new Error(`cannot reach flag service ${this.baseUrl} (${method} /flags/${flagKey}): ${cause}`);
    }
  }

  private async expectOk(response: Response, method: string, flagKey: string): Promise<string> {
    const text = await response.text();
    if (response.ok) return text;
    const hint = response.status === 401 || response.status === 403 ? `; check the token in ${this.options.tokenEnv ?? '(no tokenEnv set)'}` : '';
    throw new Error(`flag service ${this.baseUrl} answered ${response.status} to ${method} /flags/${flagKey}: ${truncate(text)}${hint}`);
  }

  private token(name: string): string {
    const value = (this.options.env ?? process.env)[name];
    if (!value) throw new Error(`environment variable ${name} is not set; it must hold the flag service's bearer token`);
    return value;
  }
}

function parseState(text: string): FlagRolloutState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { enabled, percent } = value as Record<string, unknown>;
  if (typeof enabled !== 'boolean' || typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) return undefined;
  return { enabled, percent };
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine || '(empty body)';
}
