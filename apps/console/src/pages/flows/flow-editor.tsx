import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { invalidFields } from '../../api/api-error';
import { unwrap, type ApiClient, type paths } from '../../api/client';
import { Button, ErrorNotice, Section, TextField } from '../../components/ui';
import { href, navigate } from '../../router';
import { useRoleRefusal } from '../agent-role';
import { errorsUnder, isJsonObject, type JsonObject, type JsonSchema } from './json-schema';
import type { HandlerInfo, PipelineStep } from './pipeline-builder';
import { QueuePanel } from './queue-panel';
import { ScheduleEditor, type Schedule } from './schedule-editor';
import { SchemaForm } from './schema-form';

type Flow = paths['/agents/{agent}/flows/{flow}']['get']['responses'][200]['content']['application/json'];
type StepConfigs = Flow['stepConfig'];

/** `over` deep-merged into `base`, as the server merges a flow's handler configuration over its step's default. */
export function mergeConfig(base: JsonObject, over: JsonObject): JsonObject {
  const merged: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] = isJsonObject(current) && isJsonObject(value) ? mergeConfig(current, value) : value;
  }
  return merged;
}

/** A flow: each handler step's configuration (a form from its handler's schema), its schedule, queues, and run, pause and resume. */
export function FlowEditorPage({ client, agent, flow: flowSlug }: { readonly client: ApiClient; readonly agent: string; readonly flow: string }) {
  const flow = useQuery({ queryKey: ['flow', agent, flowSlug], queryFn: () => unwrap(client.GET('/agents/{agent}/flows/{flow}', { params: { path: { agent, flow: flowSlug } } })) });
  const pipelineId = flow.data?.pipelineId;
  const pipeline = useQuery({
    queryKey: ['pipeline', agent, pipelineId],
    enabled: pipelineId !== undefined,
    queryFn: () => unwrap(client.GET('/agents/{agent}/pipelines/{pipeline}', { params: { path: { agent, pipeline: pipelineId ?? '' } } })),
  });
  const handlers = useQuery({ queryKey: ['handlers'], queryFn: () => unwrap(client.GET('/handlers')) });
  return (
    <Section title={`Flow ${flow.data?.name ?? flowSlug}`} actions={<a href={href({ page: 'flows', agent })}>All flows</a>}>
      <ErrorNotice error={flow.error ?? pipeline.error ?? handlers.error} />
      {flow.data && pipeline.data && handlers.data && <FlowEditor key={flow.data.id} client={client} agent={agent} flow={flow.data} steps={pipeline.data.steps} handlers={handlers.data.handlers} />}
    </Section>
  );
}

function FlowEditor({ client, agent, flow, steps, handlers }: { readonly client: ApiClient; readonly agent: string; readonly flow: Flow; readonly steps: readonly PipelineStep[]; readonly handlers: readonly HandlerInfo[] }) {
  const queries = useQueryClient();
  const [name, setName] = useState(flow.name);
  const [schedule, setSchedule] = useState<Schedule>(flow.schedule);
  const [configs, setConfigs] = useState<Record<string, JsonObject>>(() =>
    Object.fromEntries(steps.flatMap((step) => ('handler' in step ? [[step.key, mergeConfig((step.config ?? {}) as JsonObject, (flow.stepConfig[step.key]?.handlerConfig ?? {}) as JsonObject)]] : []))),
  );
  const path = { agent, flow: flow.slug };
  const saved = (next: Flow) => {
    queries.setQueryData(['flow', agent, flow.slug], next);
    void queries.invalidateQueries({ queryKey: ['flows', agent] });
  };
  const save = useMutation({
    mutationFn: () => {
      const stepConfig: StepConfigs = { ...flow.stepConfig };
      for (const [key, handlerConfig] of Object.entries(configs)) stepConfig[key] = { ...stepConfig[key], handlerConfig };
      return unwrap(client.PATCH('/agents/{agent}/flows/{flow}', { params: { path }, body: { name, stepConfig, schedule } }));
    },
    onSuccess: saved,
  });
  const run = useMutation({
    mutationFn: () => unwrap(client.POST('/agents/{agent}/flows/{flow}/run', { params: { path, header: { 'idempotency-key': crypto.randomUUID() } } })),
    onSuccess: (job) => navigate({ page: 'job', agent, job: job.id }),
  });
  const toggle = useMutation({
    mutationFn: () => unwrap(flow.paused ? client.POST('/agents/{agent}/flows/{flow}/resume', { params: { path } }) : client.POST('/agents/{agent}/flows/{flow}/pause', { params: { path } })),
    onSuccess: saved,
  });
  const fields = invalidFields(save.error);
  // Running, pausing and resuming need an operator, editing an admin; the server checks again.
  const runRefusal = useRoleRefusal(client, agent, 'operator');
  const editRefusal = useRoleRefusal(client, agent, 'admin');
  return (
    <>
      {runRefusal !== undefined && (
        <p id="flow-run-role" className="hint">
          Run now, Pause and Resume: {runRefusal}
        </p>
      )}
      <div className="actions">
        <Button variant="primary" disabled={run.isPending || runRefusal !== undefined} title={runRefusal} aria-describedby={runRefusal === undefined ? undefined : 'flow-run-role'} onClick={() => run.mutate()}>
          Run now
        </Button>
        <Button disabled={toggle.isPending || runRefusal !== undefined} title={runRefusal} aria-describedby={runRefusal === undefined ? undefined : 'flow-run-role'} onClick={() => toggle.mutate()}>
          {flow.paused ? 'Resume' : 'Pause'}
        </Button>
        <span className="hint">{flow.paused ? 'Paused: the scheduler starts no run.' : flow.nextRunAt === null ? 'No run scheduled.' : `Next run ${new Date(flow.nextRunAt).toLocaleString()}.`}</span>
      </div>
      <ErrorNotice error={run.error ?? toggle.error ?? save.error} />
      <form
        aria-label="Flow editor"
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <TextField label="Flow name" value={name} error={fields.get('name')} onChange={(event) => setName(event.target.value)} />
        {steps.map((step) => {
          const handler = 'handler' in step ? handlers.find((candidate) => candidate.slug === step.handler) : undefined;
          if (handler === undefined) return null;
          return (
            <section key={step.key} className="card" aria-label={`Step ${step.key}`}>
              <h3>
                Step {step.key}: {handler.slug}
              </h3>
              <SchemaForm
                label={`Configuration of step ${step.key}`}
                schema={handler.configSchema as JsonSchema}
                value={configs[step.key] ?? {}}
                errors={errorsUnder(fields, [`steps.${step.key}.handlerConfig`, `stepConfig.${step.key}.handlerConfig`])}
                onChange={(value) => setConfigs((current) => ({ ...current, [step.key]: value }))}
              />
            </section>
          );
        })}
        <h3>Schedule</h3>
        <ScheduleEditor client={client} value={schedule} onChange={setSchedule} flowId={flow.id} errors={fields} />
        <div className="actions">
          <button type="submit" className="button button-primary" disabled={save.isPending || editRefusal !== undefined} title={editRefusal} aria-describedby={editRefusal === undefined ? undefined : 'flow-edit-role'}>
            Save flow
          </button>
          {editRefusal !== undefined && (
            <span id="flow-edit-role" className="hint">
              Save flow: {editRefusal}
            </span>
          )}
          {save.isSuccess && <span role="status">Saved.</span>}
        </div>
      </form>
      <h3>Queues</h3>
      {steps.map((step) =>
        step.type === 'ai' ? (
          <QueuePanel key={step.key} client={client} agent={agent} flow={flow.slug} stepKey={step.key} queue="prompt" />
        ) : step.type === 'fetch' ? (
          <QueuePanel key={step.key} client={client} agent={agent} flow={flow.slug} stepKey={step.key} queue="config_patch" />
        ) : null,
      )}
    </>
  );
}
