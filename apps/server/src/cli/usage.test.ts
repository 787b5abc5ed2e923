import { describe, expect, it } from 'vitest';
import { adminCommands } from './admin-commands';
import { adminCommandWords, usageLines } from './command-catalog';
import { renderCommandCatalog, renderUsage } from './usage';

describe('the command catalog the binary starts with', () => {
  it('is the usage text and command words rendered from the command tables (vitest -u rewrites it)', async () => {
    await expect(renderCommandCatalog()).toMatchFileSnapshot('./command-catalog.ts');
  });

  it('prints exactly the rendered usage, and names every administration command once', () => {
    expect(usageLines.join('\n')).toBe(renderUsage());
    expect(adminCommandWords.map((words) => words.join(' '))).toEqual(adminCommands.map((command) => command.words.join(' ')));
  });
});
