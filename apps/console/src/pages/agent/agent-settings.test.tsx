/** @vitest-environment jsdom */
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json } from '../../test-support/serve';
import { changes, showAgent, writerAgent } from './agent-test-support';

const field = (label: string) => screen.findByLabelText<HTMLInputElement | HTMLTextAreaElement>(label, { exact: false });
const save = async () => {
  const button = await screen.findByRole('button', { name: 'Save settings' });
  await waitFor(() => expect(button.hasAttribute('disabled')).toBe(false));
  fireEvent.click(button);
};

// A whole page renders in each test; its first render, under a full suite on two cores, can pass the 5 s default.
describe('agent settings', { timeout: 20_000 }, () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("marks the field the server's error names, and only that one", async () => {
    showAgent('admin', {
      'PATCH /agents/writer': json({ error: { code: 'input.invalid', message: 'Invalid body: body.config.model Too small', details: { issues: [{ path: 'body.config.model', message: 'Too small: expected string to have >=1 characters' }] } } }, 400),
    });
    fireEvent.change(await field('Model'), { target: { value: 'gpt-x' } });
    await save();
    const model = await field('Model');
    await waitFor(() => expect(model.getAttribute('aria-invalid')).toBe('true'));
    const message = document.getElementById(model.getAttribute('aria-describedby') ?? '');
    expect(message?.textContent).toBe('Too small: expected string to have >=1 characters');
    expect((await field('Name')).getAttribute('aria-invalid')).toBe('false');
    expect((await field('Instructions')).getAttribute('aria-invalid')).toBe('false');
  });

  it('marks the tool policy with the nested field the server names under it', async () => {
    showAgent('admin', {
      'PATCH /agents/writer': json({ error: { code: 'input.invalid', message: 'Invalid body', details: { issues: [{ path: 'body.config.toolPolicy.deny', message: 'Invalid input: expected array' }] } } }, 400),
    });
    fireEvent.change(await field('Tool policy'), { target: { value: '{"deny": "all"}' } });
    await save();
    await screen.findByText('deny: Invalid input: expected array');
    expect((await field('Tool policy')).getAttribute('aria-invalid')).toBe('true');
  });

  it('marks a tool field that is not JSON without sending anything', async () => {
    const seen = showAgent('admin');
    fireEvent.change(await field('Tool modes'), { target: { value: '{tools:' } });
    await save();
    await waitFor(async () => expect((await field('Tool modes')).getAttribute('aria-invalid')).toBe('true'));
    expect(screen.getByText(/^Not valid JSON/)).toBeTruthy();
    expect(changes(seen)).toEqual([]);
  });

  it("sends the change, keeping the agent's seeds and leaving blank fields to the defaults", async () => {
    const agent = writerAgent({ instructions: 'Old', model: 'gpt-old', soulSeed: 'Curious.' });
    const seen = showAgent('admin', { 'PATCH /agents/writer': json(agent) }, agent);
    fireEvent.change(await field('Instructions'), { target: { value: 'Write short posts.' } });
    fireEvent.change(await field('Model'), { target: { value: '' } });
    fireEvent.change(await field('Tool policy'), { target: { value: '{"deny": ["delete_post"]}' } });
    await save();
    await screen.findByText('Saved.');
    expect(changes(seen).map((request) => request.body)).toEqual([
      { name: 'Writer', description: '', config: { soulSeed: 'Curious.', instructions: 'Write short posts.', toolPolicy: { deny: ['delete_post'] } } },
    ]);
  });

  it('shows a viewer the settings read-only, with the reason, and sends nothing', async () => {
    const seen = showAgent('viewer');
    await screen.findByText('Your role on this agent is viewer; only an admin or above may do this.');
    expect((await field('Instructions')).readOnly).toBe(true);
    const button = await screen.findByRole('button', { name: 'Save settings' });
    expect(button.hasAttribute('disabled')).toBe(true);
    fireEvent.click(button);
    expect(changes(seen)).toEqual([]);
  });
});
