import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

const cwd = '/srv/app';

function problemsOf(environment: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig(environment, cwd);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('server configuration', () => {
  it('defaults to embedded PGlite under ./.data on 127.0.0.1:3000', () => {
    expect(loadConfig({}, cwd)).toEqual({
      database: { kind: 'pglite', dataDir: path.join(cwd, '.data') },
      host: '127.0.0.1',
      port: 3000,
      logLevel: 'info',
    });
  });

  it('uses Postgres when DATABASE_URL is set', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://user@db:5432/app', PORT: '8080' }, cwd);
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://user@db:5432/app' });
    expect(config.port).toBe(8080);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }, cwd).database.kind).toBe('pglite');
  });

  it('names a bad PORT and the value it got', () => {
    expect(problemsOf({ PORT: 'eighty' })).toEqual(['PORT must be a whole number from 0 to 65535 (got "eighty")']);
    expect(problemsOf({ PORT: '70000' })).toEqual(['PORT must be a whole number from 0 to 65535 (got "70000")']);
  });

  it('refuses a DATABASE_URL that is not Postgres', () => {
    expect(problemsOf({ DATABASE_URL: 'mysql://root@localhost/app' })).toEqual([
      'DATABASE_URL must be a postgres:// or postgresql:// URL (got "mysql://root@localhost/app")',
    ]);
  });

  it('lists every bad variable in one message', () => {
    const error = (() => {
      try {
        return loadConfig({ LOG_LEVEL: 'loud', PORT: '-1' }, cwd);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'config.invalid' });
    expect((error as Error).message).toMatch(/^Invalid configuration: .*PORT.*; .*LOG_LEVEL must be one of fatal, error/);
  });
});
