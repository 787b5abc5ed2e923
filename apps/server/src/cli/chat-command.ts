import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createMessage, type ConversationResult, type MemoryStore, type TranscriptStore } from '@data-machine/agents-api';
import type { DataMachineContext, JobEngine, PendingAction } from 'data-machine';
import type { ChatModel } from '../chat/chat-model-provider';
import { createChatService } from '../chat/chat-service';
import { scopeInTenant } from '../http/authentication';
import { actingAs } from './admin-commands';
import { UsageError, type Values } from './command';

/** The usage line of `chat`. */
export const chatUsage = 'chat <agent> [--session <id>] [--tenant <slug>] --as <email> (one turn per line of stdin; ends at EOF)';

/** The one line `chat` prints (to stderr, exit 1) on a server without a model. */
export const noModelLine = 'data-machine: no model is configured (set OPENAI_BASE_URL or OPENAI_API_KEY)\n';

/** What `chat` runs with: the product, the model (undefined when none is configured) and its ends. */
export interface ChatCommandOptions {
  readonly context: DataMachineContext;
  readonly model: ChatModel | undefined;
  /** The durable transcript store sessions live in. */
  readonly store: TranscriptStore;
  readonly memory?: MemoryStore | undefined;
  /** The job engine the `run_flow` chat tool starts runs on; without one the tool is not offered (as on the chat routes). */
  readonly engine?: JobEngine | undefined;
  /** The words after `chat`. */
  readonly argv: readonly string[];
  /** One turn per line; the conversation ends at its end. */
  readonly stdin: NodeJS.ReadableStream;
  /** Where the agent's text goes, delta by delta. */
  readonly stdout: { write(text: string): unknown };
  /** Where notes go: the session id, tool calls, a turn that did not complete. */
  readonly stderr: { write(text: string): unknown };
  /** Aborting (Ctrl-C) cancels the turn in progress and ends the conversation. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs `chat <agent>`: each line read from stdin is one turn of one session
 * (a new one, or `--session`'s), authorized like the chat route (`chat` on
 * the agent, as `--as` or `--token`), its text streamed to stdout as the
 * model produces it. Resolves to the exit code: 0 at the end of input, 1
 * without a model. Throws {@link UsageError} for a command line it cannot
 * read and the product's typed errors for refusals.
 */
export async function runChatCommand(options: ChatCommandOptions): Promise<number> {
  const { values, agent } = parseChatArgs(options.argv);
  if (options.model === undefined) {
    options.stderr.write(noModelLine);
    return 1;
  }
  const acting = await actingAs(options.context, values);
  const scope = await scopeInTenant(options.context, acting, typeof values.tenant === 'string' ? values.tenant : undefined);
  const service = createChatService({ context: options.context, store: options.store, model: options.model, memory: options.memory, engine: options.engine });
  let sessionId = typeof values.session === 'string' ? values.session : undefined;
  const lines = createInterface({ input: options.stdin, crlfDelay: Infinity, terminal: false });
  // Ctrl-C while waiting for a line ends the conversation too, not only a turn in progress.
  const endInput = () => lines.close();
  options.signal?.addEventListener('abort', endInput, { once: true });
  try {
    for await (const line of lines) {
      if (options.signal?.aborted) break;
      if (line.trim() === '') continue;
      const turn = await service.openTurn(scope, agent, {
        sessionId,
        input: [createMessage({ type: 'text', role: 'user', content: line, payload: {} })],
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      if (sessionId === undefined) options.stderr.write(`session ${turn.stream.session.id} (continue it with --session ${turn.stream.session.id})\n`);
      sessionId = turn.stream.session.id;
      for await (const { event } of turn.stream) {
        if (event.type === 'text_delta') options.stdout.write(event.text);
        else if (event.type === 'tool_call') options.stderr.write(`[tool ${event.toolCall.name}]\n`);
      }
      options.stdout.write('\n');
      const note = turnNote((await turn.settled).result, turn.held);
      if (note !== undefined) options.stderr.write(`${note}\n`);
    }
  } finally {
    options.signal?.removeEventListener('abort', endInput);
    lines.close();
  }
  return 0;
}

/** Reads `chat`'s command line; throws {@link UsageError} for one it cannot read (before anything is opened: see `runChat`). */
export function parseChatArgs(argv: readonly string[]): { values: Values; agent: string } {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { session: { type: 'string' }, as: { type: 'string' }, token: { type: 'string' }, tenant: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
    const [agent] = positionals;
    if (positionals.length !== 1 || agent === undefined) throw new UsageError(`usage: data-machine ${chatUsage}`);
    return { values, agent };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${(error as Error).message.split('\n')[0] ?? 'bad arguments'}; usage: data-machine ${chatUsage}`);
  }
}

/** A line for a turn that did not simply complete; none for one that did. */
function turnNote(result: ConversationResult, held: ReadonlyMap<string, PendingAction>): string | undefined {
  switch (result.status) {
    case 'completed':
      return undefined;
    case 'failed':
      return `data-machine: the turn failed (${result.failure.code}): ${result.failure.message}`;
    case 'approval_required':
      return result.pending.map((pending) => heldNote(pending.toolCall.name, held.get(pending.toolCall.id))).join('\n');
    default:
      return `data-machine: the turn ended ${result.status}`;
  }
}

/** Where a held call waits: its pending action and the commands that decide it; the session's next line applies the decision. */
function heldNote(toolName: string, action: PendingAction | undefined): string {
  if (action === undefined) return `data-machine: waiting for approval of ${toolName}`;
  return `data-machine: waiting for approval of ${toolName}: ${action.summary} (data-machine approvals accept|reject ${action.id}; the next line continues after the decision)`;
}
