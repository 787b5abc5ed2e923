import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api/client';
import { Button, ErrorNotice, Section } from '../components/ui';
import { href, navigate } from '../router';

/** An agent's flows: run now, pause and resume. */
export function FlowsPage({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const queries = useQueryClient();
  const flows = useQuery({ queryKey: ['flows', agent], queryFn: () => unwrap(client.GET('/agents/{agent}/flows', { params: { path: { agent } } })) });
  const refresh = () => queries.invalidateQueries({ queryKey: ['flows', agent] });
  const run = useMutation({
    // One key per click: a retried request does not start a second run.
    mutationFn: (flow: string) =>
      unwrap(client.POST('/agents/{agent}/flows/{flow}/run', { params: { path: { agent, flow }, header: { 'idempotency-key': crypto.randomUUID() } } })),
    onSuccess: (job) => navigate({ page: 'job', agent, job: job.id }),
  });
  const pause = useMutation({ mutationFn: (flow: string) => unwrap(client.POST('/agents/{agent}/flows/{flow}/pause', { params: { path: { agent, flow } } })), onSuccess: refresh });
  const resume = useMutation({ mutationFn: (flow: string) => unwrap(client.POST('/agents/{agent}/flows/{flow}/resume', { params: { path: { agent, flow } } })), onSuccess: refresh });
  return (
    <Section title={`Flows of ${agent}`} actions={<a href={href({ page: 'jobs', agent })}>Jobs</a>}>
      <ErrorNotice error={flows.error ?? run.error ?? pause.error ?? resume.error} />
      {flows.data && flows.data.flows.length === 0 && <p>No flows yet.</p>}
      {flows.data && flows.data.flows.length > 0 && (
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
            {flows.data.flows.map((flow) => (
              <tr key={flow.id}>
                <td>
                  {flow.name} <code>{flow.slug}</code>
                </td>
                <td>{flow.schedule.kind}</td>
                <td>{flow.paused ? 'paused' : 'active'}</td>
                <td className="actions">
                  <Button variant="primary" disabled={run.isPending} onClick={() => run.mutate(flow.slug)}>
                    Run now
                  </Button>
                  {flow.paused ? (
                    <Button onClick={() => resume.mutate(flow.slug)}>Resume</Button>
                  ) : (
                    <Button onClick={() => pause.mutate(flow.slug)}>Pause</Button>
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
