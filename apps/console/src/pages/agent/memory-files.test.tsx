/** @vitest-environment jsdom */
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, type SeenRequest } from '../../test-support/serve';
import { changes, showAgent } from './agent-test-support';

/**
 * A server holding one memory file, SOUL.md, that answers saves as the real
 * one does: a save whose If-Match is not the current hash is 409
 * memory.conflict with the current hash in details.actual.
 */
function memoryServer(initial: string) {
  const file = { content: initial, hash: 'h0', version: 0 };
  const summary = () => ({ layer: 'agent', path: 'SOUL.md', bytes: file.content.length, contentHash: file.hash, updatedAt: '2026-12-01T00:00:00.000Z' });
  return {
    /** Someone else saves `content`. */
    saveElsewhere(content: string) {
      file.version += 1;
      file.content = content;
      file.hash = `h${file.version}`;
    },
    routes: {
      'GET /agents/writer/memory': () => json({ files: [summary()] })(),
      'GET /agents/writer/memory/SOUL.md': () => json({ ...summary(), content: file.content })(),
      'PUT /agents/writer/memory/SOUL.md': (request: SeenRequest) => {
        const expected = request.headers.get('if-match')?.replace(/"/g, '');
        if (expected !== file.hash) {
          return json({ error: { code: 'memory.conflict', message: 'Memory file "SOUL.md" changed.', details: { expected, actual: file.hash } } }, 409)();
        }
        file.version += 1;
        file.content = (request.body as { content: string }).content;
        file.hash = `h${file.version}`;
        return json({ ...summary(), created: false })();
      },
    },
    current: () => file,
  };
}

async function openSoul() {
  fireEvent.click(await screen.findByRole('tab', { name: 'Memory files' }));
  fireEvent.click(await screen.findByRole('button', { name: 'SOUL.md' }));
  const editor = await screen.findByRole('form', { name: 'Memory file SOUL.md' });
  const content = await within(editor).findByLabelText<HTMLTextAreaElement>('Content');
  return { editor, content };
}
/** Opens SOUL.md, types "mine", lets someone else save "theirs", and saves: the conflict. */
async function conflictingSave(server: ReturnType<typeof memoryServer>) {
  const opened = await openSoul();
  fireEvent.change(opened.content, { target: { value: 'mine' } });
  server.saveElsewhere('theirs');
  fireEvent.click(within(opened.editor).getByRole('button', { name: 'Save' }));
  return opened;
}
const saves = (seen: readonly SeenRequest[]) => seen.filter((request) => request.route === 'PUT /agents/writer/memory/SOUL.md');

// A whole page renders in each test; its first render, under a full suite on two cores, can pass the 5 s default.
describe('memory files', { timeout: 20_000 }, () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('saves an edit as a replacement of the version that was opened', async () => {
    const server = memoryServer('# Writer');
    const seen = showAgent('admin', server.routes);
    const { editor, content } = await openSoul();
    expect(content.value).toBe('# Writer');
    fireEvent.change(content, { target: { value: '# Writer\n\nCurious.' } });
    fireEvent.click(within(editor).getByRole('button', { name: 'Save' }));
    await within(editor).findByText('Saved.');
    expect(saves(seen).map((request) => [request.headers.get('if-match'), request.body])).toEqual([['"h0"', { content: '# Writer\n\nCurious.' }]]);
    expect(server.current().content).toBe('# Writer\n\nCurious.');
  });

  it('says plainly when someone else saved first, keeps the text, and overwrites only when asked', async () => {
    const server = memoryServer('# Writer');
    const seen = showAgent('admin', server.routes);
    const { editor, content } = await conflictingSave(server);
    const alert = await within(editor).findByRole('alert');
    expect(alert.textContent).toContain('Someone else saved this file after you opened it.');
    expect(content.value).toBe('mine');
    expect(within(editor).getByRole('button', { name: 'Save' }).hasAttribute('disabled')).toBe(true);
    expect(server.current().content).toBe('theirs');
    fireEvent.click(within(alert).getByRole('button', { name: 'Overwrite with mine' }));
    await within(editor).findByText('Saved.');
    expect(saves(seen).map((request) => request.headers.get('if-match'))).toEqual(['"h0"', '"h1"']);
    expect(server.current().content).toBe('mine');
    expect(within(editor).queryByRole('alert')).toBeNull();
  });

  it("reloads the other person's version on request, discarding the edit, and saves from it", async () => {
    const server = memoryServer('# Writer');
    const seen = showAgent('admin', server.routes);
    const { editor, content } = await conflictingSave(server);
    fireEvent.click(await within(editor).findByRole('button', { name: 'Reload their version' }));
    await waitFor(() => expect(content.value).toBe('theirs'));
    expect(server.current().content).toBe('theirs');
    fireEvent.change(content, { target: { value: 'theirs, amended' } });
    fireEvent.click(within(editor).getByRole('button', { name: 'Save' }));
    await within(editor).findByText('Saved.');
    expect(saves(seen).map((request) => request.headers.get('if-match'))).toEqual(['"h0"', '"h1"']);
    expect(server.current().content).toBe('theirs, amended');
  });

  it('shows a viewer the files read-only, with the reason, and offers no new file', async () => {
    const server = memoryServer('# Writer');
    const seen = showAgent('viewer', server.routes);
    const { editor, content } = await openSoul();
    expect(content.readOnly).toBe(true);
    expect(within(editor).getByRole('button', { name: 'Save' }).hasAttribute('disabled')).toBe(true);
    expect(within(editor).getByRole('button', { name: 'Delete file' }).hasAttribute('disabled')).toBe(true);
    expect(screen.getByText('Your role on this agent is viewer; only an admin or above may do this.')).toBeTruthy();
    expect(screen.queryByRole('form', { name: 'New memory file' })).toBeNull();
    expect(changes(seen)).toEqual([]);
  });
});
