/**
 * A flag store backed by an OpenFeature flagd flag-definition file (https://flagd.dev/reference/flag-definitions/).
 * The rollout percentage becomes fractional targeting, so any flagd provider (in-process file mode, or a flagd
 * daemon watching the file) splits traffic by targeting key. Writes go to a temporary file that is renamed over
 * the original (atomic on POSIX), then the file is read back to verify.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FlagRolloutState, FlagStore } from './flag-store';

/** Fractional weights are integers; basis points of a percent keep two decimals (0.5% → 50 of 10,000). */
const WEIGHT_SCALE = 100;

interface FlagdFlag {
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, boolean>;
  defaultVariant: string;
  targeting?: unknown;
  metadata?: Record<string, string | number | boolean>;
}

interface FlagdFile {
  $schema?: string;
  flags: Record<string, FlagdFlag>;
  [key: string]: unknown;
}

export class FlagdFileStore implements FlagStore {
  constructor(private readonly path: string) {}

  async read(flagKey: string): Promise<FlagRolloutState | undefined> {
    const flag = (await this.load()).flags[flagKey];
    if (!flag) return undefined;
    const percent = typeof flag.metadata?.rolloutPercent === 'number' ? flag.metadata.rolloutPercent : 0;
    return { enabled: flag.state === 'ENABLED', percent };
  }

  async write(flagKey: string, state: FlagRolloutState): Promise<void> {
    if (!(state.percent >= 0 && state.percent <= 100)) {
      throw new RangeError(`flag ${flagKey}: percent must be between 0 and 100, got ${state.percent}`);
    }
    const file = await this.load();
    file.flags[flagKey] = toFlagdFlag(state);
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`);
    await rename(temporary, this.path);
    const readBack = await this.read(flagKey);
    if (readBack?.enabled !== state.enabled || readBack.percent !== state.percent) {
      throw new Error(`flag ${flagKey}: wrote ${JSON.stringify(state)} to ${this.path} but read back ${JSON.stringify(readBack)}`);
    }
  }

  private async load(): Promise<FlagdFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return { $schema: 'https://flagd.dev/schema/v0/flags.json', flags: {} };
      }
      throw err;
    }
    const parsed = JSON.parse(text) as FlagdFile;
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.flags !== 'object') {
      throw new Error(`${this.path} is not a flagd flag-definition file: it has no "flags" object`);
    }
    return parsed;
  }
}

function toFlagdFlag(state: FlagRolloutState): FlagdFlag {
  const on = Math.round(state.percent * WEIGHT_SCALE);
  const off = 100 * WEIGHT_SCALE - on;
  return {
    state: state.enabled ? 'ENABLED' : 'DISABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    targeting: { fractional: [['on', on], ['off', off]] },
    metadata: { rolloutPercent: state.percent },
  };
}
