import { describe, expect, it } from '@jest/globals';
import { defaultLogFormat, enabledLevels } from './log-settings.js';

describe('log settings', () => {
  it('prints readable lines on a terminal and JSON anywhere else', () => {
    expect(defaultLogFormat(true)).toBe('pretty');
    expect(defaultLogFormat(false)).toBe('json');
  });

  it('enables a level with every more severe one, and fatal always', () => {
    expect(enabledLevels('error')).toEqual(['fatal', 'error']);
    expect(enabledLevels('log')).toEqual(['fatal', 'error', 'warn', 'log']);
    expect(enabledLevels('verbose')).toEqual(['fatal', 'error', 'warn', 'log', 'debug', 'verbose']);
  });
});
