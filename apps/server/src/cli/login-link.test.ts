import { describe, expect, it } from 'vitest';
import { UsageError } from './command';
import { runLoginLinkCommand } from './login-link';

const options = { publicUrl: 'http://127.0.0.1:3000', secretKey: 'k'.repeat(43), now: new Date('2026-12-01T08:00:00.000Z') };

describe('data-machine login-link', () => {
  it('prints a console link with a signed one-time token after #, and until when it works', () => {
    const printed = runLoginLinkCommand(['--as', 'owner@example.test'], options);
    expect(printed).toMatch(/^http:\/\/127\.0\.0\.1:3000\/#\/login\/dmll_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n\(one use, until 2026-12-01T08:15:00\.000Z\)\n$/);
    expect(runLoginLinkCommand(['--as', 'owner@example.test', '--minutes', '60'], options)).toContain('until 2026-12-01T09:00:00.000Z');
  });

  it('is a usage error without --as <email>, or with a bad --minutes', () => {
    expect(() => runLoginLinkCommand([], options)).toThrow(UsageError);
    expect(() => runLoginLinkCommand(['--as', 'system'], options)).toThrow('login-link needs --as <email>');
    expect(() => runLoginLinkCommand(['--as', 'a@b.test', '--minutes', '0'], options)).toThrow('--minutes must be a whole number from 1 to 1440');
  });
});
