import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api/client';
import { Button, ErrorNotice, Section } from '../components/ui';
import { href } from '../router';

/** The template catalog: every catalog's templates, and installing one into the current tenant. */
export function TemplatesPage({ client }: { readonly client: ApiClient }) {
  const queries = useQueryClient();
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => unwrap(client.GET('/templates')) });
  const install = useMutation({
    mutationFn: (template: string) => unwrap(client.POST('/templates/{template}/install', { params: { path: { template } }, body: {} })),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ['templates'] });
      await queries.invalidateQueries({ queryKey: ['agents'] });
    },
  });
  return (
    <Section title="Templates">
      <ErrorNotice error={templates.error ?? install.error} />
      {install.data && (
        <p role="status" className="notice">
          {install.data.created ? 'Installed' : 'Already installed'} as agent <a href={href({ page: 'agent', agent: install.data.agent.slug })}>{install.data.agent.slug}</a>.
        </p>
      )}
      {templates.data && templates.data.templates.length === 0 && <p>No catalog offers a template.</p>}
      {templates.data && templates.data.templates.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Template</th>
              <th scope="col">Catalog</th>
              <th scope="col">Description</th>
              <th scope="col">In this tenant</th>
            </tr>
          </thead>
          <tbody>
            {templates.data.templates.map((template) => (
              <tr key={template.id}>
                <td>
                  {template.name} <code>{template.slug}</code>
                </td>
                <td>{template.catalog}</td>
                <td>{template.description}</td>
                <td>
                  {template.installedAs === null ? (
                    <Button variant="primary" aria-label={`Install ${template.catalog}/${template.slug}`} disabled={install.isPending} onClick={() => install.mutate(template.id)}>
                      Install
                    </Button>
                  ) : (
                    <a href={href({ page: 'agent', agent: template.installedAs })}>{template.installedAs}</a>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
