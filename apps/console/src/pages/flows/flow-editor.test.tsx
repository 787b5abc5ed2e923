/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../../api/client';
import { createQueryClient } from '../../app';
import { json, serve, type SeenRequest } from '../../test-support/serve';
import { FlowEditorPage } from './flow-editor';

const flow = {
  id: 'flw_1',
  tenantId: 't1',
  agentId: 'a1',
  pipelineId: 'pip_1',
  slug: 'daily',
  name: 'Daily',
  stepConfig: { store: { secret: 'records_token' } },
  schedule: { kind: 'manual' },
  paused: false,
  maxItems: 10,
  concurrency: 1,
  nextRunAt: null,
  createdBy: null,
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:00.000Z',
};
const pipeline = {
  id: 'pip_1',
  tenantId: 't1',
  agentId: 'a1',
  slug: 'digest',
  name: 'Digest',
  steps: [
    { key: 'think', type: 'ai', config: {} },
    { key: 'store', type: 'publish', handler: 'records', config: { collection: 'notes' } },
  ],
  createdBy: null,
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:00.000Z',
};
const handlers = { handlers: [{ slug: 'records', kind: 'publish', description: 'Records', secretName: null, configSchema: { type: 'object', properties: { collection: { type: 'string' } }, required: ['collection'] } }] };
const entry = (id: string, body: string) => ({ id, flowId: 'flw_1', stepKey: 'think', queue: 'prompt', body, position: 1, leasedByJobId: null, leasedAt: null, createdBy: null, createdAt: '2026-12-01T00:00:00.000Z' });
const queuePath = 'GET /agents/writer/flows/daily/steps/think/queues/prompt';

function show(routes: Record<string, (request: SeenRequest) => Response>, role = 'admin') {
  const seen = serve({
    'GET /agents': json({ agents: [{ id: 'a1', slug: 'writer', name: 'Writer', role }] }),
    'GET /agents/writer/flows/daily': json(flow),
    'GET /agents/writer/pipelines/pip_1': json(pipeline),
    'GET /handlers': json(handlers),
    'POST /schedules/preview': json({ runs: [], timeZone: 'UTC' }),
    [queuePath]: json({ entries: [] }),
    ...routes,
  });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <FlowEditorPage client={createApiClient({ baseUrl: 'http://console.test' })} agent="writer" flow="daily" />
    </QueryClientProvider>,
  );
  return seen;
}

/** The button named `name` once the caller's role is known and allows it. */
const enabled = async (name: string) => {
  const found = await screen.findByRole('button', { name });
  await waitFor(() => expect(found.hasAttribute('disabled')).toBe(false));
  return found;
};

// Dozens of renders in jsdom: seconds on a loaded machine, past vitest's 5 s default. Not a timing assertion.
const slowRender = 30_000;

describe('flow editor', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("saves each handler step's configuration from its form, the schedule, and keeps the step's other settings", { timeout: slowRender }, async () => {
    const seen = show({ 'PATCH /agents/writer/flows/daily': json(flow) });
    const step = await screen.findByRole('region', { name: 'Step store' });
    // The form starts from the pipeline step's default, merged with the flow's own.
    expect((within(step).getByLabelText('collection (required)') as HTMLInputElement).value).toBe('notes');
    fireEvent.change(within(step).getByLabelText('collection (required)'), { target: { value: 'daily-notes' } });
    fireEvent.change(screen.getByLabelText('Schedule'), { target: { value: 'interval' } });
    fireEvent.click(await enabled('Save flow'));
    await waitFor(() =>
      expect(seen.find((request) => request.route === 'PATCH /agents/writer/flows/daily')?.body).toEqual({
        name: 'Daily',
        stepConfig: { store: { secret: 'records_token', handlerConfig: { collection: 'daily-notes' } } },
        schedule: { kind: 'interval', every: 'daily' },
      }),
    );
    await screen.findByRole('status');
  });

  it('marks the field a refused save names, and the schedule field', async () => {
    show({
      'PATCH /agents/writer/flows/daily': json(
        {
          error: {
            code: 'flow.invalid_config',
            message: 'Invalid flow configuration',
            details: { issues: [{ path: 'steps.store.handlerConfig.collection', message: 'Invalid string: must match pattern' }, { path: 'schedule.timeZone', message: '"Mars" is not an IANA time zone' }] },
          },
        },
        400,
      ),
    });
    const step = await screen.findByRole('region', { name: 'Step store' });
    fireEvent.change(screen.getByLabelText('Schedule'), { target: { value: 'cron' } });
    fireEvent.click(await enabled('Save flow'));
    await within(step).findByText('Invalid string: must match pattern');
    expect(within(step).getByLabelText('collection (required)').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Time zone').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getAllByRole('alert')[0]?.textContent).toContain('flow.invalid_config');
  });

  it("manages the AI step's prompt queue: add at the tail, move up, clear", async () => {
    const seen = show({
      [queuePath]: json({ entries: [entry('e1', 'first'), entry('e2', 'second')] }),
      'POST /agents/writer/flows/daily/steps/think/queues/prompt': json(entry('e3', 'third'), 201),
      'PUT /agents/writer/flows/daily/steps/think/queues/prompt/order': json({ entries: [entry('e2', 'second'), entry('e1', 'first')] }),
      'DELETE /agents/writer/flows/daily/steps/think/queues/prompt': json({ cleared: 2 }),
    });
    const queue = await screen.findByRole('region', { name: 'Prompt queue of think' });
    await within(queue).findByText('second');
    fireEvent.change(within(queue).getByLabelText('New prompt'), { target: { value: 'third' } });
    fireEvent.click(within(queue).getByRole('button', { name: 'Add to queue' }));
    await waitFor(() => expect(seen.find((request) => request.route.startsWith('POST /agents/writer/flows/daily/steps'))?.body).toEqual({ body: 'third' }));
    fireEvent.click(within(queue).getByRole('button', { name: 'Move entry 2 up' }));
    await waitFor(() => expect(seen.find((request) => request.route.startsWith('PUT'))?.body).toEqual({ entryIds: ['e2', 'e1'] }));
    fireEvent.click(within(queue).getByRole('button', { name: 'Clear queue' }));
    await waitFor(() => expect(seen.some((request) => request.route === 'DELETE /agents/writer/flows/daily/steps/think/queues/prompt')).toBe(true));
  });

  it('pauses a running flow', async () => {
    const seen = show({ 'POST /agents/writer/flows/daily/pause': json({ ...flow, paused: true }) });
    fireEvent.click(await enabled('Pause'));
    await screen.findByRole('button', { name: 'Resume' });
    expect(seen.some((request) => request.route === 'POST /agents/writer/flows/daily/pause')).toBe(true);
  });

  it('offers a viewer neither run, pause nor save, each disabled with the reason, and sends nothing', async () => {
    const seen = show({}, 'viewer');
    await screen.findByText('Run now, Pause and Resume: Your role on this agent is viewer; only an operator or above may do this.');
    expect(screen.getByText('Save flow: Your role on this agent is viewer; only an admin or above may do this.')).toBeTruthy();
    for (const name of ['Run now', 'Pause', 'Save flow']) {
      const found = screen.getByRole('button', { name });
      expect(found.hasAttribute('disabled')).toBe(true);
      fireEvent.click(found);
    }
    expect(seen.some((request) => request.route.startsWith('POST /agents') || request.route.startsWith('PATCH'))).toBe(false);
  });

  it('lets an operator run and pause a flow but not edit it', async () => {
    show({}, 'operator');
    await enabled('Run now');
    await enabled('Pause');
    expect(screen.getByRole('button', { name: 'Save flow' }).hasAttribute('disabled')).toBe(true);
    expect(screen.getByText('Save flow: Your role on this agent is operator; only an admin or above may do this.')).toBeTruthy();
  });
});
