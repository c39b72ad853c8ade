/**
 * Configuration values a phase changes on entry and a rollback restores (seed 002's Stripe TEST → LIVE), kept in a
 * JSON file written atomically (write, then rename) and verified by reading back.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export type ConfigValue = string | number | boolean;

export interface ConfigStore {
  read(key: string): Promise<ConfigValue | undefined>;
  write(key: string, value: ConfigValue): Promise<void>;
}

export class FileConfigStore implements ConfigStore {
  constructor(private readonly path: string) {}

  async read(key: string): Promise<ConfigValue | undefined> {
    return (await this.load())[key];
  }

  async write(key: string, value: ConfigValue): Promise<void> {
    const values = await this.load();
    values[key] = value;
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, `${JSON.stringify(values, null, 2)}\n`);
    await rename(temporary, this.path);
    if ((await this.read(key)) !== value) throw new Error(`config ${key}: wrote ${String(value)} to ${this.path} but read back something else`);
  }

  private async load(): Promise<Record<string, ConfigValue>> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as Record<string, ConfigValue>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }
}
