import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { invalidFields } from '../../api/api-error';
import { unwrap, type ApiClient } from '../../api/client';
import { ErrorNotice, Section } from '../../components/ui';
import { href, navigate } from '../../router';
import { useRoleRefusal } from '../agent-role';
import { PipelineBuilder } from './pipeline-builder';

/** A pipeline in the builder: a new one (`pipeline` is undefined) is created, an existing one changed. */
export function PipelinePage({ client, agent, pipeline }: { readonly client: ApiClient; readonly agent: string; readonly pipeline: string | undefined }) {
  const queries = useQueryClient();
  const handlers = useQuery({ queryKey: ['handlers'], queryFn: () => unwrap(client.GET('/handlers')) });
  const existing = useQuery({
    queryKey: ['pipeline', agent, pipeline],
    enabled: pipeline !== undefined,
    queryFn: () => unwrap(client.GET('/agents/{agent}/pipelines/{pipeline}', { params: { path: { agent, pipeline: pipeline ?? '' } } })),
  });
  const save = useMutation({
    mutationFn: (draft: Parameters<Parameters<typeof PipelineBuilder>[0]['onSave']>[0]) =>
      pipeline === undefined
        ? unwrap(client.POST('/agents/{agent}/pipelines', { params: { path: { agent } }, body: draft }))
        : unwrap(client.PATCH('/agents/{agent}/pipelines/{pipeline}', { params: { path: { agent, pipeline } }, body: { name: draft.name, steps: draft.steps } })),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ['pipelines', agent] });
      await queries.invalidateQueries({ queryKey: ['pipeline', agent] });
      navigate({ page: 'flows', agent });
    },
  });
  // Only an admin of the agent edits its pipelines; the server checks again.
  const refusal = useRoleRefusal(client, agent, 'admin');
  const ready = handlers.data !== undefined && (pipeline === undefined || existing.data !== undefined);
  return (
    <Section title={pipeline === undefined ? 'New pipeline' : `Pipeline ${existing.data?.name ?? pipeline}`} actions={<a href={href({ page: 'flows', agent })}>All flows</a>}>
      <ErrorNotice error={handlers.error ?? existing.error ?? save.error} />
      {ready && (
        <PipelineBuilder
          key={existing.data?.id ?? 'new'}
          handlers={handlers.data.handlers}
          isNew={pipeline === undefined}
          initialSteps={existing.data?.steps ?? []}
          initialName={existing.data?.name ?? ''}
          errors={invalidFields(save.error)}
          saving={save.isPending}
          refusal={refusal}
          onSave={(draft) => save.mutate(draft)}
        />
      )}
    </Section>
  );
}
