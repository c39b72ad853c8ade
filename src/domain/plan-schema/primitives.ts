/**
 * The plan format's primitives (names, durations, percentages, clock times) and providers (metric sources, flag
 * providers, notification channels, metric definitions). Part of the plan format (./index.ts).
 */
import { z } from 'zod';
import { formatDuration, tryParseDuration } from '../duration';
// ---------------------------------------------------------------------------------------------------------------
// Primitives

/** A name other parts of the plan refer to: metrics, roles, channels, phases, checks. */
export const Name = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.:-]*$/, 'expected a name of letters, digits, "_", "-", "." or ":", starting with a letter')
  .meta({ description: 'A name other parts of the plan refer to.' });

/** The longest duration a plan may name, 366 days: a rollout rule longer than a year is a typo, and sums stay finite. */
export const MAX_DURATION_MS = 366 * 86_400_000;

/**
 * The longest text read as a duration ("1d23h59m59s999ms" has 16 characters). Longer text is not parsed at all: a
 * megabyte-long "duration" in a hostile plan is refused by its length, not scanned.
 */
const MAX_DURATION_TEXT = 64;

/**
 * A duration of at least `minMs` and at most {@link MAX_DURATION_MS}: "90s", "5m", "2h", "1d", "1h30m", "500ms".
 * A validated plan must run: a zero window or evaluation interval would make the rollout loop without advancing time.
 */
function durationOf(minMs: number) {
  return z
    .string()
    .superRefine((text, ctx) => {
      const ms = text.length > MAX_DURATION_TEXT ? undefined : tryParseDuration(text);
      if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'expected a duration such as "90s", "5m", "2h", "1d" or "1h30m"' });
      else if (!(ms <= MAX_DURATION_MS)) ctx.addIssue({ code: 'custom', message: `expected a duration of at most ${formatDuration(MAX_DURATION_MS)}` });
      else if (ms < minMs) ctx.addIssue({ code: 'custom', message: `expected a duration of at least ${formatDuration(minMs)}` });
    })
    .meta({
      description: `A duration: number + unit (ms, s, m, h, d), largest unit first, e.g. "90s", "1h30m"; ${minMs > 0 ? `at least ${formatDuration(minMs)}, ` : ''}at most 366d.`,
      examples: ['5m', '2h', '1h30m'],
    });
}

/** Any duration from 0s to 366d: how long something must hold, may last, or may wait. */
export const Duration = durationOf(0);

/**
 * At least 1s: how often something is done (an evaluation interval, a window, a task's period), so every loop
 * advances, or how far back something counts (a lookback, a gap, an approval's age), so there is something to see.
 */
export const Period = durationOf(1_000);

/** How long a call may take before it is given up: at least 100ms. */
export const Timeout = durationOf(100);

/** The most consecutive windows a condition may ask for. */
export const MAX_CONSECUTIVE_WINDOWS = 1_000;

/** "HH:MM", 24-hour clock. */
export const ClockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day such as "09:00" or "18:30"');

export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/** Traffic share in percent; decimals such as 0.5 are allowed. */
export const Percent = z.number().min(0, 'a percentage cannot be negative').max(100, 'a percentage cannot exceed 100');

/** The name of an environment variable that holds a secret; the secret itself never appears in a plan. */
export const EnvVarName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected the NAME of an environment variable (A-Z, 0-9, _), not the secret itself');

export const Comparison = z.enum(['<', '<=', '>', '>=', '==', '!=']);

/** Where a rule comes from: a seed document and sentence, free text shown in `canary plan` and the ops log. */
export const Source = z.string().optional().meta({ description: 'Where this rule comes from (document and sentence).' });

// ---------------------------------------------------------------------------------------------------------------
// Providers: where metrics come from, where flags live, where notifications go

export const MetricSourceConfig = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('prometheus'),
    url: z.string().url(),
    timeout: Timeout.optional(),
    auth: z
      .union([
        z.strictObject({ bearerTokenEnv: EnvVarName }),
        z.strictObject({ usernameEnv: EnvVarName, passwordEnv: EnvVarName }),
      ])
      .optional(),
  }),
  z.strictObject({
    type: z.literal('scrape'),
    url: z.string().url().meta({ description: "A service's /metrics endpoint (Prometheus text format)." }),
    interval: Period.optional().meta({ description: 'How often to scrape; at least 1s.' }),
  }),
  z.strictObject({
    type: z.literal('scenario').meta({ description: 'Values from a simulation scenario file (canary simulate, tests).' }),
  }),
]);

export const FlagProviderConfig = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('flagd-file'),
    path: z.string().min(1).meta({ description: 'The flagd flag-definition JSON file to write.' }),
  }),
  z.strictObject({
    type: z.literal('unleash'),
    url: z.string().url(),
    tokenEnv: EnvVarName,
    project: z.string().default('default'),
    environment: z.string(),
  }),
  z.strictObject({
    type: z.literal('webhook'),
    url: z.string().url(),
    tokenEnv: EnvVarName.optional(),
  }),
]);

export const ChannelConfig = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('slack'), webhookUrlEnv: EnvVarName, channel: z.string().optional() }),
  z.strictObject({ type: z.literal('pagerduty'), routingKeyEnv: EnvVarName, severity: z.enum(['critical', 'error', 'warning', 'info']).optional() }),
  z.strictObject({ type: z.literal('webhook'), urlEnv: EnvVarName }),
  z.strictObject({
    type: z.literal('email'),
    to: z.array(z.string().email()).min(1).meta({ description: 'The addresses every message is sent to.' }),
    smtpUrlEnv: EnvVarName.optional().meta({
      description:
        'The variable holding the mail server: smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465, optionally ?from=sender@example.com; default SMTP_URL.',
    }),
  }),
  z.strictObject({ type: z.literal('log').meta({ description: 'Writes to the ops log only (useful in demos and tests).' }) }),
]);

/** A named metric: a source and the source-specific query. */
export const MetricDef = z.strictObject({
  source: Name.meta({ description: 'A metric source declared under providers.metrics.' }),
  query: z.string().min(1).meta({ description: 'PromQL for prometheus; a series name for scrape and scenario sources.' }),
  unit: z.string().optional().meta({ description: 'Shown next to values: ms, ratio, %, count, USD …' }),
  description: z.string().optional(),
});
