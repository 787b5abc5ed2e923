import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ApiError, invalidFields } from '../api/api-error';
import { unwrap, type ApiClient } from '../api/client';
import { Button, ErrorNotice, Section, TextArea, TextField } from '../components/ui';
import { href } from '../router';

/** The agents the user can see, with their role on each, and a form to create one. */
export function AgentsPage({ client }: { readonly client: ApiClient }) {
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => unwrap(client.GET('/agents')) });
  return (
    <>
      <Section title="Agents">
        <ErrorNotice error={agents.error} />
        {agents.isPending && <p>Loading…</p>}
        {agents.data && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Slug</th>
                <th scope="col">Your role</th>
              </tr>
            </thead>
            <tbody>
              {agents.data.agents.map((agent) => (
                <tr key={agent.id}>
                  <td>
                    <a href={href({ page: 'agent', agent: agent.slug })}>{agent.name}</a>
                  </td>
                  <td>
                    <code>{agent.slug}</code>
                  </td>
                  <td>{agent.role}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <CreateAgentForm client={client} />
    </>
  );
}

function CreateAgentForm({ client }: { readonly client: ApiClient }) {
  const queries = useQueryClient();
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [instructions, setInstructions] = useState('');
  const create = useMutation({
    mutationFn: () => unwrap(client.POST('/agents', { body: { slug, name, config: instructions.trim() === '' ? {} : { instructions } } })),
    onSuccess: async () => {
      setSlug('');
      setName('');
      setInstructions('');
      await queries.invalidateQueries({ queryKey: ['agents'] });
    },
  });
  const fields = invalidFields(create.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <Section title="Create an agent">
      <form onSubmit={submit} aria-label="Create an agent">
        <ErrorNotice error={create.error} />
        {create.error instanceof ApiError && create.error.code === 'agent.limit_reached' && (
          <p className="field-error">You have reached the number of agents this tenant lets each member create. Ask a tenant owner or admin to raise the limit, or to create the agent for you.</p>
        )}
        <TextField label="Slug" name="slug" value={slug} onChange={(event) => setSlug(event.target.value)} error={fields.get('slug')} hint="Lower-case letters, digits and dashes" required />
        <TextField label="Name" name="name" value={name} onChange={(event) => setName(event.target.value)} error={fields.get('name')} required />
        <TextArea label="Instructions" name="instructions" rows={3} value={instructions} onChange={(event) => setInstructions(event.target.value)} error={fields.get('config.instructions')} />
        <Button type="submit" variant="primary" disabled={create.isPending}>
          Create agent
        </Button>
      </form>
    </Section>
  );
}
