import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { invalidFields } from '../../api/api-error';
import { unwrap, type ApiClient } from '../../api/client';
import { Button, ErrorNotice, TextArea, TextField } from '../../components/ui';
import type { AgentConfig, AgentDetails } from './agent-types';

/** The settings form's fields, as typed. */
interface SettingsDraft {
  readonly name: string;
  readonly description: string;
  readonly instructions: string;
  readonly model: string;
  readonly toolPolicy: string;
  readonly toolModes: string;
}

/** A field the form marks, and the body path the server names it by. */
const fieldPaths: Readonly<Record<keyof SettingsDraft, string>> = {
  name: 'name',
  description: 'description',
  instructions: 'config.instructions',
  model: 'config.model',
  toolPolicy: 'config.toolPolicy',
  toolModes: 'config.toolModes',
};

function draftOf(agent: AgentDetails): SettingsDraft {
  const json = (value: unknown) => (value === undefined ? '' : JSON.stringify(value, null, 2));
  return {
    name: agent.name,
    description: agent.description,
    instructions: agent.config.instructions ?? '',
    model: agent.config.model ?? '',
    toolPolicy: json(agent.config.toolPolicy),
    toolModes: json(agent.config.toolModes),
  };
}

/** The outcome of reading the form: the change to send, or the fields that are not even JSON. */
export type SettingsParse = { readonly ok: true; readonly patch: { name: string; description: string; config: AgentConfig } } | { readonly ok: false; readonly errors: ReadonlyMap<string, string> };

/**
 * Turns the typed fields into the agent change: blank optional fields are
 * left out of the configuration (the server default applies), the rest of the
 * agent's own configuration (seeds) is kept. The tool fields are JSON; one
 * that does not parse to an object is reported here, the rest is the server's.
 */
export function parseSettings(agent: AgentDetails, draft: SettingsDraft): SettingsParse {
  const errors = new Map<string, string>();
  const object = (field: 'toolPolicy' | 'toolModes'): Record<string, unknown> | undefined => {
    const text = draft[field].trim();
    if (text === '') return undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
      errors.set(fieldPaths[field], 'Expected a JSON object, like {"deny": ["delete_post"]}.');
    } catch (error) {
      errors.set(fieldPaths[field], `Not valid JSON: ${error instanceof Error ? error.message : 'cannot be read'}`);
    }
    return undefined;
  };
  const toolPolicy = object('toolPolicy');
  const toolModes = object('toolModes');
  if (errors.size > 0) return { ok: false, errors };
  const { instructions: _instructions, model: _model, toolPolicy: _toolPolicy, toolModes: _toolModes, ...kept } = agent.config;
  const config: AgentConfig = {
    ...kept,
    ...(draft.instructions.trim() === '' ? {} : { instructions: draft.instructions }),
    ...(draft.model.trim() === '' ? {} : { model: draft.model.trim() }),
    ...(toolPolicy === undefined ? {} : { toolPolicy: toolPolicy as AgentConfig['toolPolicy'] }),
    ...(toolModes === undefined ? {} : { toolModes: toolModes as AgentConfig['toolModes'] }),
  };
  return { ok: true, patch: { name: draft.name, description: draft.description, config } };
}

/** The message for a field: the issue at its path or below it (`config.toolPolicy.deny.0` marks the tool policy). */
function issueFor(issues: ReadonlyMap<string, string>, path: string): string | undefined {
  for (const [issuePath, message] of issues) {
    if (issuePath === path) return message;
    if (issuePath.startsWith(`${path}.`)) return `${issuePath.slice(path.length + 1)}: ${message}`;
  }
  return undefined;
}

/**
 * An agent's name, description, instructions, model, tool policy and tool
 * modes. A refused save marks each field the server's error names; a reader
 * who may not edit sees the fields read-only and why.
 */
export function AgentSettings({ client, agent, refusal }: { readonly client: ApiClient; readonly agent: AgentDetails; readonly refusal: string | undefined }) {
  const queries = useQueryClient();
  const [draft, setDraft] = useState(() => draftOf(agent));
  const [localErrors, setLocalErrors] = useState<ReadonlyMap<string, string>>(new Map());
  const save = useMutation({
    mutationFn: (patch: { name: string; description: string; config: AgentConfig }) => unwrap(client.PATCH('/agents/{agent}', { params: { path: { agent: agent.slug } }, body: patch })),
    onSuccess: async (saved) => {
      queries.setQueryData(['agent', agent.slug], saved);
      await queries.invalidateQueries({ queryKey: ['agents'] });
    },
  });
  const serverErrors = invalidFields(save.error);
  const errorOf = (field: keyof SettingsDraft) => issueFor(localErrors, fieldPaths[field]) ?? issueFor(serverErrors, fieldPaths[field]);
  const set = (field: keyof SettingsDraft) => (event: { target: { value: string } }) => setDraft((current) => ({ ...current, [field]: event.target.value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseSettings(agent, draft);
    if (!parsed.ok) {
      setLocalErrors(parsed.errors);
      return;
    }
    setLocalErrors(new Map());
    save.mutate(parsed.patch);
  };
  const readOnly = refusal !== undefined;
  return (
    <form onSubmit={submit} aria-label="Agent settings">
      {readOnly && <p className="hint">{refusal}</p>}
      <ErrorNotice error={save.error} />
      {save.isSuccess && !save.isPending && <p className="notice">Saved.</p>}
      <TextField label="Name" name="name" value={draft.name} onChange={set('name')} error={errorOf('name')} readOnly={readOnly} required />
      <TextArea label="Description" name="description" rows={2} value={draft.description} onChange={set('description')} error={errorOf('description')} readOnly={readOnly} />
      <TextArea label="Instructions" name="instructions" rows={6} value={draft.instructions} onChange={set('instructions')} error={errorOf('instructions')} readOnly={readOnly} />
      <TextField label="Model" name="model" value={draft.model} onChange={set('model')} error={errorOf('model')} hint={`Blank: ${agent.effectiveConfig.model ?? 'the server default'}`} readOnly={readOnly} />
      <TextArea
        label="Tool policy (JSON: categories, allow, allowOnly, deny, allowAutonomousWrites)"
        name="toolPolicy"
        rows={4}
        value={draft.toolPolicy}
        onChange={set('toolPolicy')}
        error={errorOf('toolPolicy')}
        readOnly={readOnly}
      />
      <TextArea
        label="Tool modes (JSON: tools and categories, each direct, preview or forbidden)"
        name="toolModes"
        rows={4}
        value={draft.toolModes}
        onChange={set('toolModes')}
        error={errorOf('toolModes')}
        readOnly={readOnly}
      />
      <Button type="submit" variant="primary" disabled={readOnly || save.isPending} title={refusal}>
        Save settings
      </Button>
    </form>
  );
}
