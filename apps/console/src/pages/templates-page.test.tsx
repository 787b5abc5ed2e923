/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { json, serve } from '../test-support/serve';
import { TemplatesPage } from './templates-page';

const template = (installedAs: string | null) => ({ id: 'agt_w', slug: 'writer', name: 'Writer', description: 'Writes posts.', catalog: 'starter', installedAs });
const installed = { created: true, agent: { id: 'agt_mine', slug: 'writer', name: 'Writer' } };

function show() {
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TemplatesPage client={createApiClient({ baseUrl: 'http://console.test' })} />
    </QueryClientProvider>,
  );
}

describe('templates page', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('lists the catalog and installs a template into the tenant, showing the agent it became', async () => {
    let installs = 0;
    const seen = serve({
      'GET /templates': () => json({ templates: [template(installs > 0 ? 'writer' : null)] })(),
      'POST /templates/agt_w/install': () => {
        installs += 1;
        return json(installed, 201)();
      },
    });
    show();
    expect((await screen.findByRole('cell', { name: 'Writes posts.' })).textContent).toBe('Writes posts.');
    fireEvent.click(screen.getByRole('button', { name: 'Install starter/writer' }));
    expect((await screen.findByRole('status')).textContent).toBe('Installed as agent writer.');
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Install starter/writer' })).toBeNull());
    expect(screen.getAllByRole('link', { name: 'writer' })[0]?.getAttribute('href')).toBe('#/agents/writer');
    expect(seen.filter((request) => request.route === 'POST /templates/agt_w/install')).toHaveLength(1);
  });

  it('shows a refused install with its code', async () => {
    serve({
      'GET /templates': json({ templates: [template(null)] }),
      'POST /templates/agt_w/install': json({ error: { code: 'access.denied', message: 'Only an owner or admin may install templates.' } }, 403),
    });
    show();
    fireEvent.click(await screen.findByRole('button', { name: 'Install starter/writer' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Not permitted');
    expect(alert.textContent).toContain('access.denied');
  });
});
