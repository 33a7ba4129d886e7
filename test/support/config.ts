import { expect } from 'vitest';
import { ConfigError, loadConfig } from '../../src/service/config.js';

/** The {@link ConfigError} `loadConfig(env)` throws; fails the test when it accepts `env`. */
export function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) accepted a bad value`);
}
