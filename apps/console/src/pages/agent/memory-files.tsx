import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ApiError, invalidFields } from '../../api/api-error';
import { unwrap, type ApiClient } from '../../api/client';
import { Button, ErrorNotice, TextArea, TextField } from '../../components/ui';
import type { MemoryLayer } from './agent-types';

/** Names one memory file. */
export interface MemoryFileRef {
  readonly layer: MemoryLayer;
  readonly path: string;
}

/** The condition a save is sent with: the version it replaces, or null to create. */
function condition(ifMatch: string | null) {
  return ifMatch === null ? { 'if-none-match': '*' as const } : { 'if-match': `"${ifMatch}"` };
}

/** The hash the server found when a save or delete met `memory.conflict` (null: the file is gone), or undefined for any other outcome. */
export function conflictOf(error: unknown): { readonly actual: string | null } | undefined {
  if (!(error instanceof ApiError) || error.code !== 'memory.conflict') return undefined;
  const actual = error.details?.actual;
  return { actual: typeof actual === 'string' ? actual : null };
}

/**
 * The agent's shared memory files (layers `agent` and `site`): a list, an
 * editor, and a form for a new file. Editing is for the agent's admins; others
 * read, with the reason they cannot edit.
 */
export function MemoryFiles({ client, agent, refusal }: { readonly client: ApiClient; readonly agent: string; readonly refusal: string | undefined }) {
  const files = useQuery({ queryKey: ['agent-memory', agent], queryFn: () => unwrap(client.GET('/agents/{agent}/memory', { params: { path: { agent } } })) });
  const [open, setOpen] = useState<MemoryFileRef | undefined>(undefined);
  return (
    <div>
      <ErrorNotice error={files.error} />
      {files.isPending && <p>Loading…</p>}
      {files.data && files.data.files.length === 0 && <p className="hint">This agent has no memory files yet.</p>}
      {files.data && files.data.files.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Layer</th>
              <th scope="col">Size</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {files.data.files.map((file) => (
              <tr key={`${file.layer}/${file.path}`}>
                <td>
                  <Button onClick={() => setOpen({ layer: file.layer, path: file.path })} aria-pressed={open?.layer === file.layer && open.path === file.path}>
                    {file.path}
                  </Button>
                </td>
                <td>{file.layer}</td>
                <td>{file.bytes} bytes</td>
                <td>{new Date(file.updatedAt).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {refusal !== undefined && <p className="hint">{refusal}</p>}
      {open && <MemoryEditor key={`${open.layer}/${open.path}`} client={client} agent={agent} file={open} refusal={refusal} onDeleted={() => setOpen(undefined)} />}
      {refusal === undefined && <NewMemoryFile client={client} agent={agent} onCreated={setOpen} />}
    </div>
  );
}

/**
 * One file in a textarea. A save names the version the text was based on; if
 * someone else saved first the server refuses (`memory.conflict`) and the
 * editor says so plainly, keeping the text, with the choice to reload theirs or
 * overwrite it with this one.
 */
export function MemoryEditor({
  client,
  agent,
  file,
  refusal,
  onDeleted,
}: {
  readonly client: ApiClient;
  readonly agent: string;
  readonly file: MemoryFileRef;
  readonly refusal: string | undefined;
  readonly onDeleted: () => void;
}) {
  const queries = useQueryClient();
  const key = ['agent-memory-file', agent, file.layer, file.path];
  const params = { path: { agent, path: file.path }, query: { layer: file.layer } };
  const loaded = useQuery({ queryKey: key, queryFn: () => unwrap(client.GET('/agents/{agent}/memory/{path}', { params })) });
  // The text being edited and the version it started from; undefined while untouched (the loaded file shows).
  const [edit, setEdit] = useState<{ readonly text: string; readonly baseHash: string } | undefined>(undefined);
  const text = edit?.text ?? loaded.data?.content ?? '';
  const baseHash = edit?.baseHash ?? loaded.data?.contentHash;
  const save = useMutation({
    mutationFn: (ifMatch: string | null) => unwrap(client.PUT('/agents/{agent}/memory/{path}', { params: { ...params, header: condition(ifMatch) }, body: { content: text } })),
    onSuccess: async (saved) => {
      queries.setQueryData(key, { ...saved, content: text });
      setEdit(undefined);
      await queries.invalidateQueries({ queryKey: ['agent-memory', agent] });
    },
  });
  const remove = useMutation({
    mutationFn: () => unwrap(client.DELETE('/agents/{agent}/memory/{path}', { params: { ...params, header: baseHash === undefined ? {} : { 'if-match': `"${baseHash}"` } } })),
    onSuccess: async () => {
      queries.removeQueries({ queryKey: key });
      await queries.invalidateQueries({ queryKey: ['agent-memory', agent] });
      onDeleted();
    },
  });
  const conflict = conflictOf(save.error) ?? conflictOf(remove.error);
  const reload = async () => {
    save.reset();
    remove.reset();
    setEdit(undefined);
    await Promise.all([loaded.refetch(), queries.invalidateQueries({ queryKey: ['agent-memory', agent] })]);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (baseHash !== undefined) save.mutate(baseHash);
  };
  const readOnly = refusal !== undefined;
  const busy = save.isPending || remove.isPending;
  return (
    <form onSubmit={submit} aria-label={`Memory file ${file.path}`} className="card">
      <h3>
        {file.path} <small className="hint">({file.layer})</small>
      </h3>
      <ErrorNotice error={loaded.error} />
      {conflict ? (
        <div role="alert" className="notice notice-error">
          <strong>Someone else saved this file after you opened it.</strong> Your changes are not saved; they are still below. Reload to see their version (your changes are discarded), or overwrite
          theirs with yours.
          <div className="actions">
            <Button onClick={() => void reload()}>Reload their version</Button>
            <Button variant="danger" disabled={busy} onClick={() => save.mutate(conflict.actual)}>
              Overwrite with mine
            </Button>
          </div>
        </div>
      ) : (
        <>
          <ErrorNotice error={save.error} />
          <ErrorNotice error={remove.error} />
        </>
      )}
      {save.isSuccess && edit === undefined && <p className="notice">Saved.</p>}
      {loaded.data && (
        <>
          <TextArea
            label="Content"
            name="content"
            rows={14}
            value={text}
            readOnly={readOnly}
            onChange={(event) => setEdit({ text: event.target.value, baseHash: edit?.baseHash ?? loaded.data.contentHash })}
          />
          <div className="actions">
            <Button type="submit" variant="primary" disabled={readOnly || busy || conflict !== undefined} title={refusal}>
              Save
            </Button>
            <Button variant="danger" disabled={readOnly || busy} title={refusal} onClick={() => remove.mutate()}>
              Delete file
            </Button>
          </div>
        </>
      )}
    </form>
  );
}

/** Creates an empty file (it must not exist yet) and opens it. */
function NewMemoryFile({ client, agent, onCreated }: { readonly client: ApiClient; readonly agent: string; readonly onCreated: (file: MemoryFileRef) => void }) {
  const queries = useQueryClient();
  const [path, setPath] = useState('');
  const [layer, setLayer] = useState<MemoryLayer>('agent');
  const create = useMutation({
    mutationFn: () => unwrap(client.PUT('/agents/{agent}/memory/{path}', { params: { path: { agent, path }, query: { layer }, header: condition(null) }, body: { content: '' } })),
    onSuccess: async (created) => {
      setPath('');
      await queries.invalidateQueries({ queryKey: ['agent-memory', agent] });
      onCreated({ layer: created.layer, path: created.path });
    },
  });
  const fields = invalidFields(create.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="New memory file">
      <ErrorNotice error={create.error} />
      <TextField label="New file path" name="path" value={path} onChange={(event) => setPath(event.target.value)} error={fields.get('params.path')} hint="Like NOTES.md or notes/ideas.md" required />
      <div className="field">
        <label htmlFor="memory-layer">Layer</label>
        <select id="memory-layer" value={layer} onChange={(event) => setLayer(event.target.value as MemoryLayer)}>
          <option value="agent">agent (SOUL.md, MEMORY.md, notes)</option>
          <option value="site">site (SITE.md, RULES.md)</option>
        </select>
      </div>
      <Button type="submit" disabled={create.isPending}>
        Create file
      </Button>
    </form>
  );
}
