import { describeFault, hasFault, parseFaults } from '../../src/demo/fault';

describe('parseFaults', () => {
  it('gives no fault when --fault is not given', () => {
    expect(parseFaults([])).toEqual({ ok: true, fault: {} });
    expect(hasFault({})).toBe(false);
  });

  it('reads an error rate as a share or as a percentage', () => {
    expect(parseFaults(['error-rate=0.05'])).toEqual({ ok: true, fault: { errorRate: 0.05 } });
    expect(parseFaults(['error-rate=5%'])).toEqual({ ok: true, fault: { errorRate: 0.05 } });
  });

  it('reads a latency as a duration in milliseconds', () => {
    expect(parseFaults(['latency=400ms'])).toEqual({ ok: true, fault: { latencyMs: 400 } });
    expect(parseFaults(['latency=1.5s'])).toEqual({ ok: true, fault: { latencyMs: 1500 } });
  });

  it('combines repeated options and comma lists', () => {
    expect(parseFaults(['error-rate=0.1', 'latency=250ms'])).toEqual({ ok: true, fault: { errorRate: 0.1, latencyMs: 250 } });
    expect(parseFaults(['error-rate=0.1, latency=250ms'])).toEqual({ ok: true, fault: { errorRate: 0.1, latencyMs: 250 } });
  });

  it.each([
    ['error-rate=1.5', /error-rate must be a share between 0 and 1/],
    ['error-rate=150%', /error-rate must be a share between 0 and 1/],
    ['error-rate=lots', /error-rate must be a share between 0 and 1/],
    ['error-rate=-0.1', /error-rate must be a share between 0 and 1/],
    ['latency=400', /latency must be a duration such as 400ms/],
    ['latency=', /latency has no value/],
    ['cpu=90%', /unknown fault "cpu"; write --fault error-rate=0.05/],
    ['error-rate', /expected name=value/],
    ['error-rate=0.1,', /an empty setting/],
  ])('refuses %s with a message that says what to write', (value, message) => {
    const parsed = parseFaults([value]);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });

  it('refuses the same setting given twice', () => {
    expect(parseFaults(['error-rate=0.1', 'error-rate=0.2'])).toEqual({ ok: false, error: '--fault: error-rate is given twice; give it once' });
  });
});

describe('describeFault', () => {
  it('names each fault of the canary, or none', () => {
    expect(describeFault({ errorRate: 0.05, latencyMs: 400 })).toBe('error rate 5%, +400 ms latency');
    expect(describeFault(undefined)).toBe('none');
    expect(hasFault({ latencyMs: 400 })).toBe(true);
  });
});
