import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '#libs/domain';
import { loadLogConfig } from './log-config.js';

describe('loadLogConfig', () => {
  it('logs JSON unless the output is a terminal, at the log level', () => {
    expect(loadLogConfig({}, false)).toEqual({ format: 'json', level: 'log' });
    expect(loadLogConfig({}, true)).toEqual({ format: 'pretty', level: 'log' });
  });

  it('takes LOG_FORMAT and LOG_LEVEL over the terminal', () => {
    expect(loadLogConfig({ LOG_FORMAT: 'json', LOG_LEVEL: 'debug' }, true)).toEqual({ format: 'json', level: 'debug' });
    expect(loadLogConfig({ LOG_FORMAT: 'pretty' }, false).format).toBe('pretty');
  });

  it('names the variable and its choices when a value is not one of them', () => {
    expect(() => loadLogConfig({ LOG_FORMAT: 'xml' }, false)).toThrow(ConfigError);
    expect(() => loadLogConfig({ LOG_FORMAT: 'xml' }, false)).toThrow(/LOG_FORMAT.*json, pretty/);
    expect(() => loadLogConfig({ LOG_LEVEL: 'info' }, false)).toThrow(/LOG_LEVEL.*error, warn, log, debug, verbose/);
  });
});
