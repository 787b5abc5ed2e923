import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { ApiError, invalidFields } from '../api/api-error';
import { unwrap, type ApiClient, type paths } from '../api/client';
import { Button, ErrorNotice, Section, TextField } from '../components/ui';
import { href, navigate } from '../router';
import { useRoleRefusal } from './agent-role';
import { describeSchedule } from './flows/schedule-editor';

type PortablePipeline = paths['/agents/{agent}/pipelines/import']['post']['requestBody']['content']['application/json'];

/** Hands `document` to the browser as a JSON file download named `fileName`. */
function download(fileName: string, document: unknown): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(document, null, 2)], { type: 'application/json' }));
  const link = window.document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  URL.revokeObjectURL(url);
}

/** The text of a chosen file (FileReader: every browser, and jsdom, has it). */
export function readText(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('the file cannot be read'));
    reader.readAsText(file);
  });
}

/** An agent's pipelines and their flows: run now, pause and resume, export and import, and the way to the builder and the flow editor. */
export function FlowsPage({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const queries = useQueryClient();
  const flows = useQuery({ queryKey: ['flows', agent], queryFn: () => unwrap(client.GET('/agents/{agent}/flows', { params: { path: { agent } } })) });
  const pipelines = useQuery({ queryKey: ['pipelines', agent], queryFn: () => unwrap(client.GET('/agents/{agent}/pipelines', { params: { path: { agent } } })) });
  const refresh = () => queries.invalidateQueries({ queryKey: ['flows', agent] });
  // Running, pausing and resuming need an operator; the server checks again.
  const runRefusal = useRoleRefusal(client, agent, 'operator');
  const gated = { title: runRefusal, 'aria-describedby': runRefusal === undefined ? undefined : 'flows-run-role' };
  const run = useMutation({
    // One key per click: a retried request does not start a second run.
    mutationFn: (flow: string) =>
      unwrap(client.POST('/agents/{agent}/flows/{flow}/run', { params: { path: { agent, flow }, header: { 'idempotency-key': crypto.randomUUID() } } })),
    onSuccess: (job) => navigate({ page: 'job', agent, job: job.id }),
  });
  const pause = useMutation({ mutationFn: (flow: string) => unwrap(client.POST('/agents/{agent}/flows/{flow}/pause', { params: { path: { agent, flow } } })), onSuccess: refresh });
  const resume = useMutation({ mutationFn: (flow: string) => unwrap(client.POST('/agents/{agent}/flows/{flow}/resume', { params: { path: { agent, flow } } })), onSuccess: refresh });
  const exported = useMutation({
    mutationFn: (pipeline: string) => unwrap(client.GET('/agents/{agent}/pipelines/{pipeline}/export', { params: { path: { agent, pipeline } } })),
    onSuccess: (document, pipeline) => download(`${pipeline}.pipeline.json`, document),
  });
  return (
    <>
      <Section
        title={`Flows of ${agent}`}
        actions={
          <span className="actions">
            <a className="button button-quiet" href={href({ page: 'pipeline', agent, pipeline: undefined })}>
              New pipeline
            </a>
            <a href={href({ page: 'jobs', agent })}>Jobs</a>
          </span>
        }
      >
        <ErrorNotice error={flows.error ?? pipelines.error ?? run.error ?? pause.error ?? resume.error ?? exported.error} />
        {runRefusal !== undefined && (
          <p id="flows-run-role" className="hint">
            Run now, Pause and Resume: {runRefusal}
          </p>
        )}
        {flows.data && flows.data.flows.length === 0 && <p>No flows yet.</p>}
        {pipelines.data && pipelines.data.pipelines.length === 0 && <p className="hint">A flow runs a pipeline: build one (New pipeline), or import one below.</p>}
        {pipelines.data?.pipelines.map((pipeline) => {
          const own = flows.data?.flows.filter((flow) => flow.pipelineId === pipeline.id) ?? [];
          return (
            <article key={pipeline.id} className="card" aria-label={`Pipeline ${pipeline.slug}`}>
              <header className="section-header">
                <h3>
                  {pipeline.name} <code>{pipeline.slug}</code>
                </h3>
                <span className="actions">
                  <a className="button button-quiet" href={href({ page: 'pipeline', agent, pipeline: pipeline.slug })}>
                    Edit pipeline
                  </a>
                  <Button disabled={exported.isPending} onClick={() => exported.mutate(pipeline.slug)}>
                    Export
                  </Button>
                </span>
              </header>
              <p className="hint">{pipeline.steps.map((step) => ('handler' in step ? `${step.key} (${step.handler})` : `${step.key} (${step.type})`)).join(' → ')}</p>
              {own.length === 0 ? (
                <p>No flows of this pipeline.</p>
              ) : (
                <table className="table">
                  <thead>
                    <tr>
                      <th scope="col">Flow</th>
                      <th scope="col">Schedule</th>
                      <th scope="col">State</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {own.map((flow) => (
                      <tr key={flow.id}>
                        <td>
                          <a href={href({ page: 'flow', agent, flow: flow.slug })}>{flow.name}</a> <code>{flow.slug}</code>
                        </td>
                        <td>{describeSchedule(flow.schedule)}</td>
                        <td>{flow.paused ? 'paused' : 'active'}</td>
                        <td className="actions">
                          <Button variant="primary" disabled={run.isPending || runRefusal !== undefined} {...gated} onClick={() => run.mutate(flow.slug)}>
                            Run now
                          </Button>
                          {flow.paused ? (
                            <Button disabled={runRefusal !== undefined} {...gated} onClick={() => resume.mutate(flow.slug)}>
                              Resume
                            </Button>
                          ) : (
                            <Button disabled={runRefusal !== undefined} {...gated} onClick={() => pause.mutate(flow.slug)}>
                              Pause
                            </Button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </article>
          );
        })}
      </Section>
      {pipelines.data && pipelines.data.pipelines.length > 0 && <NewFlow client={client} agent={agent} pipelines={pipelines.data.pipelines.map((pipeline) => pipeline.slug)} />}
      <ImportPipeline client={client} agent={agent} />
    </>
  );
}

function NewFlow({ client, agent, pipelines }: { readonly client: ApiClient; readonly agent: string; readonly pipelines: readonly string[] }) {
  const queries = useQueryClient();
  const pipelineId = useId();
  const [pipeline, setPipeline] = useState(pipelines[0] ?? '');
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  // Only an admin of the agent creates flows; the server checks again.
  const refusal = useRoleRefusal(client, agent, 'admin');
  const create = useMutation({
    mutationFn: () => unwrap(client.POST('/agents/{agent}/flows', { params: { path: { agent } }, body: { pipeline, slug, name } })),
    onSuccess: async (flow) => {
      await queries.invalidateQueries({ queryKey: ['flows', agent] });
      navigate({ page: 'flow', agent, flow: flow.slug });
    },
  });
  const fields = invalidFields(create.error);
  return (
    <Section title="New flow">
      <form
        aria-label="New flow"
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate();
        }}
      >
        <div className="field">
          <label htmlFor={pipelineId}>Pipeline</label>
          <select id={pipelineId} value={pipeline} onChange={(event) => setPipeline(event.target.value)}>
            {pipelines.map((choice) => (
              <option key={choice} value={choice}>
                {choice}
              </option>
            ))}
          </select>
        </div>
        <TextField label="Flow slug" value={slug} error={fields.get('slug')} onChange={(event) => setSlug(event.target.value)} />
        <TextField label="Flow name" value={name} error={fields.get('name')} onChange={(event) => setName(event.target.value)} />
        {fields.size === 0 && <ErrorNotice error={create.error} />}
        <button type="submit" className="button button-primary" disabled={create.isPending || refusal !== undefined} title={refusal} aria-describedby={refusal === undefined ? undefined : 'new-flow-role'}>
          Create flow
        </button>
        {refusal !== undefined && (
          <span id="new-flow-role" className="hint">
            Create flow: {refusal}
          </span>
        )}
      </form>
    </Section>
  );
}

function ImportPipeline({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const queries = useQueryClient();
  const fileId = useId();
  const [rename, setRename] = useState(false);
  const imported = useMutation({
    mutationFn: async (file: File) => {
      const text = await readText(file);
      let document: PortablePipeline;
      try {
        document = JSON.parse(text) as PortablePipeline;
      } catch {
        // Refused before any request, in the same shape as the server's refusals.
        throw new ApiError(400, 'import.unreadable', `${file.name} is not a JSON document.`);
      }
      return unwrap(client.POST('/agents/{agent}/pipelines/import', { params: { path: { agent }, query: rename ? { onConflict: 'rename' } : {} }, body: document }));
    },
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ['pipelines', agent] });
      await queries.invalidateQueries({ queryKey: ['flows', agent] });
    },
  });
  return (
    <Section title="Import a pipeline">
      <div className="field">
        <label htmlFor={fileId}>Pipeline file (JSON)</label>
        <input
          id={fileId}
          type="file"
          accept="application/json,.json"
          onChange={(event) => {
            const file = event.target.files?.[0];
            if (file) imported.mutate(file);
            event.target.value = '';
          }}
        />
      </div>
      <div className="field field-inline">
        <input id={`${fileId}-rename`} type="checkbox" checked={rename} onChange={(event) => setRename(event.target.checked)} />
        <label htmlFor={`${fileId}-rename`}>Rename on a taken slug</label>
      </div>
      <ErrorNotice error={imported.error} />
      {imported.data && (
        <p role="status">
          Imported pipeline <code>{imported.data.pipeline.slug}</code> with {imported.data.flows.length} flow{imported.data.flows.length === 1 ? '' : 's'}.
        </p>
      )}
    </Section>
  );
}
