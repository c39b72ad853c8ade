/**
 * The worker's structured log lines: one JSON object per line, whatever the metadata holds.
 */
import { JsonLinesLogger, parseLogLevel } from '../../src/logging/json-lines-logger';

function collect(level: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR') {
  const lines: string[] = [];
  const logger = new JsonLinesLogger(level, { write: (text: string) => lines.push(text) }, () => Date.parse('2026-03-01T12:00:00Z'));
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('JsonLinesLogger', () => {
  it('writes time, level and message first, then the metadata, one line per event', () => {
    const { logger, lines, parsed } = collect('INFO');
    logger.info('worker running', { taskQueue: 'canary-rollouts', percent: 10 });
    expect(lines).toEqual(['{"time":"2026-03-01T12:00:00.000Z","level":"info","msg":"worker running","taskQueue":"canary-rollouts","percent":10}\n']);
    expect(parsed()[0]).toEqual({ time: '2026-03-01T12:00:00.000Z', level: 'info', msg: 'worker running', taskQueue: 'canary-rollouts', percent: 10 });
  });

  it('leaves out events below its level', () => {
    const { logger, parsed } = collect('WARN');
    logger.debug('noise');
    logger.info('chatter');
    logger.warn('careful');
    logger.error('broken');
    expect(parsed().map((l) => l.level)).toEqual(['warn', 'error']);
  });

  it('keeps a message with newlines, errors, bigints and cycles on one parseable line', () => {
    const { logger, lines, parsed } = collect('TRACE');
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const shared = { phase: 'canary-10' };
    logger.error('first line\nsecond line', { error: new TypeError('bad input'), big: 10n, cyclic, before: shared, after: shared, fn: () => 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.trimEnd()).not.toContain('\n');
    const line = parsed()[0];
    expect(line).toMatchObject({ msg: 'first line\nsecond line', error: { name: 'TypeError', message: 'bad input' }, big: '10', cyclic: { name: 'loop', self: '[circular]' } });
    // An object met twice, but not inside itself, is written both times.
    expect(line).toMatchObject({ before: { phase: 'canary-10' }, after: { phase: 'canary-10' } });
    expect(line).not.toHaveProperty('fn');
  });

  it('does not let metadata overwrite time, level or msg', () => {
    const { logger, parsed } = collect('INFO');
    logger.info('real message', { msg: 'spoofed', level: 'error' });
    expect(parsed()[0]).toMatchObject({ level: 'info', msg: 'real message', 'meta.msg': 'spoofed', 'meta.level': 'error' });
  });

  it('survives a sink that throws', () => {
    const logger = new JsonLinesLogger('INFO', {
      write: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => logger.info('lost')).not.toThrow();
  });

  it('reads levels in any case and rejects unknown ones', () => {
    expect(parseLogLevel('debug')).toBe('DEBUG');
    expect(parseLogLevel(' Warn ')).toBe('WARN');
    expect(parseLogLevel('verbose')).toBeUndefined();
  });
});
