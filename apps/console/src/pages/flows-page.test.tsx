/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { json, serve } from '../test-support/serve';
import { FlowsPage, readText } from './flows-page';

const pipeline = { id: 'pip_1', tenantId: 't1', agentId: 'a1', slug: 'digest', name: 'Digest', steps: [{ key: 'think', type: 'ai', config: {} }], createdBy: null, createdAt: '2026-12-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z' };
const flow = { id: 'flw_1', pipelineId: 'pip_1', slug: 'daily', name: 'Daily', schedule: { kind: 'interval', every: 'daily', catchUp: 'once' }, paused: false };
const portable = { format: 'data-machine.pipeline', version: 1, pipeline: { slug: 'digest', name: 'Digest', steps: [] }, flows: [] };

function show() {
  render(
    <QueryClientProvider client={createQueryClient()}>
      <FlowsPage client={createApiClient({ baseUrl: 'http://console.test' })} agent="writer" />
    </QueryClientProvider>,
  );
}
const upload = (text: string) => fireEvent.change(screen.getByLabelText('Pipeline file (JSON)'), { target: { files: [new File([text], 'digest.json', { type: 'application/json' })] } });

describe('flows page', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("lists each pipeline's flows with their schedule in words, and downloads a pipeline's export", async () => {
    serve({
      'GET /agents/writer/pipelines': json({ pipelines: [pipeline] }),
      'GET /agents/writer/flows': json({ flows: [flow] }),
      'GET /agents/writer/pipelines/digest/export': json(portable),
    });
    const created: Blob[] = [];
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: (blob: Blob) => (created.push(blob), 'blob:export'), revokeObjectURL: () => undefined }));
    show();
    const card = await screen.findByRole('article', { name: 'Pipeline digest' });
    expect(within(card).getByRole('link', { name: 'Daily' }).getAttribute('href')).toBe('#/agents/writer/flows/daily');
    expect(within(card).getByText('Runs every day.')).toBeTruthy();
    fireEvent.click(within(card).getByRole('button', { name: 'Export' }));
    await waitFor(() => expect(created).toHaveLength(1));
    expect(JSON.parse(await readText(created[0]!))).toEqual(portable);
  });

  it('imports a pipeline file, and shows a refused or unreadable one with its code', async () => {
    const seen = serve({
      'GET /agents/writer/pipelines': json({ pipelines: [] }),
      'GET /agents/writer/flows': json({ flows: [] }),
      'POST /agents/writer/pipelines/import': json({ error: { code: 'pipeline.slug_taken', message: 'A pipeline "digest" exists.' } }, 409),
    });
    show();
    await screen.findByText('No flows yet.');
    upload('{ not json');
    expect((await screen.findByRole('alert')).textContent).toContain('import.unreadable');
    expect(seen.some((request) => request.route.startsWith('POST'))).toBe(false);
    fireEvent.click(screen.getByLabelText('Rename on a taken slug'));
    upload(JSON.stringify(portable));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('pipeline.slug_taken'));
    const request = seen.find((candidate) => candidate.route === 'POST /agents/writer/pipelines/import');
    expect(request?.body).toEqual(portable);
    expect(request?.query.get('onConflict')).toBe('rename');
  });

  it('offers a viewer no run, pause or resume: disabled with the reason, and nothing is sent', async () => {
    const seen = serve({
      'GET /agents': json({ agents: [{ id: 'a1', slug: 'writer', name: 'Writer', role: 'viewer' }] }),
      'GET /agents/writer/pipelines': json({ pipelines: [pipeline] }),
      'GET /agents/writer/flows': json({ flows: [flow, { ...flow, id: 'flw_2', slug: 'weekly', name: 'Weekly', paused: true }] }),
    });
    show();
    await screen.findByText('Run now, Pause and Resume: Your role on this agent is viewer; only an operator or above may do this.');
    const card = await screen.findByRole('article', { name: 'Pipeline digest' });
    const buttons = [...within(card).getAllByRole('button', { name: 'Run now' }), within(card).getByRole('button', { name: 'Pause' }), within(card).getByRole('button', { name: 'Resume' })];
    expect(buttons).toHaveLength(4);
    for (const found of buttons) {
      expect(found.hasAttribute('disabled')).toBe(true);
      expect(found.getAttribute('aria-describedby')).toBe('flows-run-role');
      fireEvent.click(found);
    }
    const create = screen.getByRole('button', { name: 'Create flow' });
    expect(create.hasAttribute('disabled')).toBe(true);
    expect(screen.getByText('Create flow: Your role on this agent is viewer; only an admin or above may do this.')).toBeTruthy();
    fireEvent.click(create);
    expect(seen.some((request) => request.route.startsWith('POST'))).toBe(false);
  });

  it('lets an operator run a flow', async () => {
    const seen = serve({
      'GET /agents': json({ agents: [{ id: 'a1', slug: 'writer', name: 'Writer', role: 'operator' }] }),
      'GET /agents/writer/pipelines': json({ pipelines: [pipeline] }),
      'GET /agents/writer/flows': json({ flows: [flow] }),
      'POST /agents/writer/flows/daily/run': json({ id: 'j9' }, 202),
    });
    show();
    const card = await screen.findByRole('article', { name: 'Pipeline digest' });
    const run = within(card).getByRole('button', { name: 'Run now' });
    await waitFor(() => expect(run.hasAttribute('disabled')).toBe(false));
    fireEvent.click(run);
    await waitFor(() => expect(window.location.hash).toBe('#/agents/writer/jobs/j9'));
    expect(seen.filter((request) => request.route === 'POST /agents/writer/flows/daily/run')).toHaveLength(1);
  });
});
