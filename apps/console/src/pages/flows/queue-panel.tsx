import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { unwrap, type ApiClient } from '../../api/client';
import { Button, ErrorNotice, TextArea } from '../../components/ui';

/** What {@link QueuePanel} takes: the queue of a flow's step. */
export interface QueuePanelProps {
  readonly client: ApiClient;
  readonly agent: string;
  readonly flow: string;
  readonly stepKey: string;
  readonly queue: 'prompt' | 'config_patch';
}

/**
 * A step's queue, head first: add an entry at the tail (a prompt, or a config
 * patch as JSON), move one up or down, clear them all.
 */
export function QueuePanel({ client, agent, flow, stepKey, queue }: QueuePanelProps) {
  const queries = useQueryClient();
  const path = { agent, flow, stepKey, queue };
  const key = ['queue', agent, flow, stepKey, queue];
  const entries = useQuery({ queryKey: key, queryFn: () => unwrap(client.GET('/agents/{agent}/flows/{flow}/steps/{stepKey}/queues/{queue}', { params: { path } })) });
  const [draft, setDraft] = useState('');
  const [unreadable, setUnreadable] = useState(false);
  const refresh = () => queries.invalidateQueries({ queryKey: key });
  const add = useMutation({
    mutationFn: (body: string | Record<string, unknown>) => unwrap(client.POST('/agents/{agent}/flows/{flow}/steps/{stepKey}/queues/{queue}', { params: { path }, body: { body } })),
    onSuccess: () => {
      setDraft('');
      void refresh();
    },
  });
  const reorder = useMutation({
    mutationFn: (entryIds: string[]) => unwrap(client.PUT('/agents/{agent}/flows/{flow}/steps/{stepKey}/queues/{queue}/order', { params: { path }, body: { entryIds } })),
    onSuccess: (result) => queries.setQueryData(key, result),
  });
  const clear = useMutation({ mutationFn: () => unwrap(client.DELETE('/agents/{agent}/flows/{flow}/steps/{stepKey}/queues/{queue}', { params: { path } })), onSuccess: refresh });
  const list = entries.data?.entries ?? [];
  const title = queue === 'prompt' ? `Prompt queue of ${stepKey}` : `Config-patch queue of ${stepKey}`;
  const move = (index: number, by: -1 | 1) => {
    const ids = list.map((entry) => entry.id);
    const [moved] = ids.splice(index, 1);
    if (moved !== undefined) ids.splice(index + by, 0, moved);
    reorder.mutate(ids);
  };
  const submit = () => {
    if (queue === 'prompt') {
      if (draft.trim() !== '') add.mutate(draft);
      return;
    }
    try {
      const parsed = JSON.parse(draft) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      setUnreadable(false);
      add.mutate(parsed as Record<string, unknown>);
    } catch {
      setUnreadable(true);
    }
  };
  return (
    <section className="card queue" aria-label={title}>
      <h3>{title}</h3>
      <ErrorNotice error={entries.error ?? add.error ?? reorder.error ?? clear.error} />
      {list.length === 0 ? (
        <p>The queue is empty.</p>
      ) : (
        <ol aria-label={`Entries of ${title}`}>
          {list.map((entry, index) => {
            const text = typeof entry.body === 'string' ? entry.body : JSON.stringify(entry.body);
            return (
              <li key={entry.id}>
                <span className="pre">{text}</span>
                {entry.leasedByJobId !== null && <small className="hint"> (in use by job {entry.leasedByJobId})</small>}{' '}
                <Button aria-label={`Move entry ${index + 1} up`} disabled={index === 0 || reorder.isPending} onClick={() => move(index, -1)}>
                  ↑
                </Button>
                <Button aria-label={`Move entry ${index + 1} down`} disabled={index === list.length - 1 || reorder.isPending} onClick={() => move(index, 1)}>
                  ↓
                </Button>
              </li>
            );
          })}
        </ol>
      )}
      <TextArea
        label={queue === 'prompt' ? 'New prompt' : 'New config patch (JSON object)'}
        value={draft}
        error={unreadable ? 'a config patch is a JSON object' : undefined}
        onChange={(event) => setDraft(event.target.value)}
      />
      <div className="actions">
        <Button variant="primary" disabled={add.isPending || draft.trim() === ''} onClick={submit}>
          Add to queue
        </Button>
        <Button variant="danger" disabled={clear.isPending || list.length === 0} onClick={() => clear.mutate()}>
          Clear queue
        </Button>
      </div>
    </section>
  );
}
