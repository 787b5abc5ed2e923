import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

const cwd = '/srv/app';
const secret = 's'.repeat(32);

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
      model: { baseURL: undefined, apiKey: undefined, defaultModel: 'gpt-4.1-mini' },
      secretKey: { kind: 'file', path: path.join(cwd, '.data', 'secret-key') },
      homeTenant: 'default',
      rateLimit: { max: 600, windowMs: 60_000 },
      publicUrl: 'http://127.0.0.1:3000',
      consoleSession: { idleMs: 720 * 60_000, absoluteMs: 168 * 3_600_000 },
      inbound: { webhookMaxBytes: 262_144, fileMaxBytes: 10_485_760 },
      changeFedCaches: true,
      handlersAllowPrivateAddresses: false,
    });
  });

  it('reads the public URL (console cookies are Secure when it is https) and the console session lifetimes', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://dm.example.com/', CONSOLE_SESSION_IDLE_MINUTES: '30', CONSOLE_SESSION_MAX_HOURS: '8' }, cwd)).toMatchObject({
      publicUrl: 'https://dm.example.com',
      consoleSession: { idleMs: 30 * 60_000, absoluteMs: 8 * 3_600_000 },
    });
    expect(loadConfig({ HOST: '0.0.0.0', PORT: '8080' }, cwd).publicUrl).toBe('http://localhost:8080');
    expect(problemsOf({ PUBLIC_URL: 'ftp://x' })).toEqual(['PUBLIC_URL must be an http:// or https:// URL (got "ftp://x")']);
    expect(problemsOf({ CONSOLE_SESSION_IDLE_MINUTES: '0' })).toEqual(['CONSOLE_SESSION_IDLE_MINUTES must be a whole number from 1 to 10080 (got "0")']);
  });

  it('reads the inbound webhook and file caps, and refuses a webhook cap above the 1 MiB body limit', () => {
    expect(loadConfig({ DM_WEBHOOK_MAX_BYTES: '1024', DM_FILE_MAX_BYTES: '2048' }, cwd).inbound).toEqual({ webhookMaxBytes: 1024, fileMaxBytes: 2048 });
    expect(problemsOf({ DM_WEBHOOK_MAX_BYTES: '2000000' })).toEqual(['DM_WEBHOOK_MAX_BYTES must be a whole number from 1 to 1048576 (got "2000000")']);
  });

  it('lets handlers reach private addresses only when HANDLERS_ALLOW_PRIVATE_ADDRESSES is true', () => {
    expect(loadConfig({ HANDLERS_ALLOW_PRIVATE_ADDRESSES: 'true' }, cwd).handlersAllowPrivateAddresses).toBe(true);
    expect(loadConfig({ HANDLERS_ALLOW_PRIVATE_ADDRESSES: 'false' }, cwd).handlersAllowPrivateAddresses).toBe(false);
    expect(problemsOf({ HANDLERS_ALLOW_PRIVATE_ADDRESSES: 'yes' })).toEqual(['HANDLERS_ALLOW_PRIVATE_ADDRESSES must be true or false (got "yes")']);
  });

  it('keeps the change-fed caches unless DM_CHANGE_FED_CACHES is false, and refuses another value', () => {
    expect(loadConfig({ DM_CHANGE_FED_CACHES: 'false' }, cwd).changeFedCaches).toBe(false);
    expect(loadConfig({ DM_CHANGE_FED_CACHES: 'true' }, cwd).changeFedCaches).toBe(true);
    expect(problemsOf({ DM_CHANGE_FED_CACHES: 'off' })).toEqual(['DM_CHANGE_FED_CACHES must be true or false (got "off")']);
  });

  it('reads the home tenant of registered agents', () => {
    expect(loadConfig({ DM_HOME_TENANT: 'acme' }, cwd).homeTenant).toBe('acme');
  });

  it('reads the per-token rate limit, and refuses one that is not a positive whole number', () => {
    expect(loadConfig({ RATE_LIMIT_MAX: '20', RATE_LIMIT_WINDOW_SECONDS: '5' }, cwd).rateLimit).toEqual({ max: 20, windowMs: 5_000 });
    expect(problemsOf({ RATE_LIMIT_MAX: '0' })).toEqual(['RATE_LIMIT_MAX must be a whole number from 1 (got "0")']);
    expect(problemsOf({ RATE_LIMIT_WINDOW_SECONDS: 'soon' })).toEqual(['RATE_LIMIT_WINDOW_SECONDS must be a whole number from 1 to 86400 (got "soon")']);
  });

  it('uses Postgres when DATABASE_URL is set', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://user@db:5432/app', PORT: '8080', SECRET_KEY: secret }, cwd);
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://user@db:5432/app' });
    expect(config.port).toBe(8080);
  });

  it('requires SECRET_KEY with DATABASE_URL, since every process must share it', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://user@db:5432/app' })).toEqual(['SECRET_KEY is required with DATABASE_URL (every process must share it)']);
    expect(loadConfig({ DATABASE_URL: 'postgres://user@db:5432/app', SECRET_KEY: secret }, cwd).secretKey).toEqual({ kind: 'given', key: secret });
  });

  it('refuses a short SECRET_KEY without echoing it', () => {
    expect(problemsOf({ SECRET_KEY: 'hunter2' })).toEqual(['SECRET_KEY must be at least 32 characters']);
  });

  it('reads the model endpoint, key and default model', () => {
    expect(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9999/v1', OPENAI_API_KEY: 'sk-test', DEFAULT_MODEL: 'local' }, cwd).model).toEqual({
      baseURL: 'http://127.0.0.1:9999/v1',
      apiKey: 'sk-test',
      defaultModel: 'local',
    });
    expect(problemsOf({ OPENAI_BASE_URL: 'ftp://models' })).toEqual(['OPENAI_BASE_URL must be an http:// or https:// URL (got "ftp://models")']);
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

  describe('with DM_CONFIG_FILE', () => {
    let directory = '';
    const file = async (name: string, text: string): Promise<string> => {
      directory ||= await mkdtemp(path.join(tmpdir(), 'dm-config-'));
      await writeFile(path.join(directory, name), text);
      return path.join(directory, name);
    };
    afterAll(async () => {
      if (directory) await rm(directory, { recursive: true, force: true });
    });

    it('reads variables from the file, and the environment overrides them', async () => {
      const configFile = await file('good.json', JSON.stringify({ PORT: 8081, HOST: '0.0.0.0', DEFAULT_MODEL: 'from-file' }));
      const config = loadConfig({ DM_CONFIG_FILE: configFile, DEFAULT_MODEL: 'from-env' }, cwd);
      expect({ port: config.port, host: config.host, model: config.model.defaultModel }).toEqual({ port: 8081, host: '0.0.0.0', model: 'from-env' });
    });

    it('names a bad value from the file like one from the environment', async () => {
      expect(problemsOf({ DM_CONFIG_FILE: await file('bad-port.json', '{"PORT":"eighty"}') })).toEqual([
        'PORT must be a whole number from 0 to 65535 (got "eighty")',
      ]);
    });

    it('refuses a missing file, bad JSON, a non-object and unknown variables, each in one line', async () => {
      expect(problemsOf({ DM_CONFIG_FILE: '/nonexistent/dm.json' })).toEqual(['DM_CONFIG_FILE cannot be read (ENOENT: /nonexistent/dm.json)']);
      const broken = await file('broken.json', '{"PORT":');
      expect(problemsOf({ DM_CONFIG_FILE: broken })).toEqual([`DM_CONFIG_FILE is not valid JSON (${broken})`]);
      const list = await file('list.json', '[1, 2]');
      expect(problemsOf({ DM_CONFIG_FILE: list })).toEqual([`DM_CONFIG_FILE must hold a JSON object of strings (${list})`]);
      const typo = await file('typo.json', '{"PROT":"80"}');
      expect(problemsOf({ DM_CONFIG_FILE: typo })).toEqual([`DM_CONFIG_FILE names unknown variables: PROT (${typo})`]);
    });
  });
});
