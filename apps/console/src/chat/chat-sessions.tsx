import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { unwrap, type ApiClient } from '../api/client';
import type { paths } from '../api/schema';
import { Button, ErrorNotice, TextField } from '../components/ui';
import { Chat } from './chat-view';

type ChatSession = paths['/agents/{agent}/chat/sessions']['get']['responses'][200]['content']['application/json']['sessions'][number];

/** What the session list shows and tells. */
export interface ChatSessionsProps {
  readonly client: ApiClient;
  readonly agent: string;
  /** The session shown beside the list, highlighted. */
  readonly current: string | undefined;
  readonly onOpen: (sessionId: string | undefined) => void;
}

/**
 * The caller's chat sessions with an agent, newest first
 * (`GET /agents/{agent}/chat/sessions`): open one, rename it (`PATCH`),
 * delete it (`DELETE`), or start a new chat.
 */
export function ChatSessions({ client, agent, current, onOpen }: ChatSessionsProps) {
  const queries = useQueryClient();
  const listed = useQuery({
    queryKey: ['chat-sessions', agent],
    queryFn: () => unwrap(client.GET('/agents/{agent}/chat/sessions', { params: { path: { agent } } })),
  });
  const refresh = () => queries.invalidateQueries({ queryKey: ['chat-sessions', agent] });
  const rename = useMutation({
    mutationFn: ({ session, title }: { readonly session: string; readonly title: string | null }) =>
      unwrap(client.PATCH('/agents/{agent}/chat/sessions/{session}', { params: { path: { agent, session } }, body: { title } })),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (session: string) => unwrap(client.DELETE('/agents/{agent}/chat/sessions/{session}', { params: { path: { agent, session } } })),
    onSuccess: (_done, session) => {
      if (session === current) onOpen(undefined);
    },
    onSettled: refresh,
  });
  return (
    <nav className="chat-sessions" aria-label="Chat sessions">
      <Button variant="primary" onClick={() => onOpen(undefined)}>
        New chat
      </Button>
      <ErrorNotice error={listed.error ?? rename.error ?? remove.error} />
      {listed.isPending && <p>Loading…</p>}
      {listed.data?.sessions.length === 0 && <p>No chats yet.</p>}
      <ul>
        {listed.data?.sessions.map((session) => (
          <SessionEntry
            key={session.id}
            session={session}
            current={session.id === current}
            onOpen={() => onOpen(session.id)}
            onRename={(title) => rename.mutate({ session: session.id, title })}
            onDelete={() => remove.mutate(session.id)}
          />
        ))}
      </ul>
    </nav>
  );
}

function SessionEntry({
  session,
  current,
  onOpen,
  onRename,
  onDelete,
}: {
  readonly session: ChatSession;
  readonly current: boolean;
  readonly onOpen: () => void;
  readonly onRename: (title: string | null) => void;
  readonly onDelete: () => void;
}) {
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const title = session.title ?? `Chat of ${new Date(session.createdAt).toLocaleString()}`;
  if (editing !== undefined) {
    return (
      <li>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            onRename(editing.trim() === '' ? null : editing.trim());
            setEditing(undefined);
          }}
        >
          <TextField label="Title" name="title" value={editing} onChange={(event) => setEditing(event.target.value)} />
          <Button type="submit" variant="primary">
            Save
          </Button>
          <Button onClick={() => setEditing(undefined)}>Cancel</Button>
        </form>
      </li>
    );
  }
  return (
    <li aria-current={current ? 'true' : undefined}>
      <Button onClick={onOpen}>{title}</Button>
      <Button aria-label={`Rename ${title}`} onClick={() => setEditing(session.title ?? '')}>
        Rename
      </Button>
      <Button variant="danger" aria-label={`Delete ${title}`} onClick={onDelete}>
        Delete
      </Button>
    </li>
  );
}

/** The chat page: the session list beside the chat of the opened (or a new) session. */
export function ChatPage({ client, agent, tenant }: { readonly client: ApiClient; readonly agent: string; readonly tenant: string | undefined }) {
  const queries = useQueryClient();
  // `opened` remounts the chat on a session chosen in the list; `current` follows the chat's own session.
  const [opened, setOpened] = useState<{ readonly session: string | undefined; readonly serial: number }>({ session: undefined, serial: 0 });
  const [current, setCurrent] = useState<string | undefined>(undefined);
  return (
    <div className="chat-page">
      <ChatSessions
        client={client}
        agent={agent}
        current={current}
        onOpen={(session) => {
          setOpened((before) => ({ session, serial: before.serial + 1 }));
          setCurrent(session);
        }}
      />
      <Chat
        key={`${opened.session ?? 'new'}-${opened.serial}`}
        agent={agent}
        tenant={tenant}
        sessionId={opened.session}
        onSession={(session) => {
          setCurrent(session);
          void queries.invalidateQueries({ queryKey: ['chat-sessions', agent] });
        }}
      />
    </div>
  );
}
