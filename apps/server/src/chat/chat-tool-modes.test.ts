import { describeEachDatabase, textReply, toolCallReply } from '@data-machine/testkit';
import type { DataMachineDatabase } from 'data-machine';
import { describe, expect, it } from 'vitest';
import { parseEventStream, useChatWorld, type ReadEvent } from '../../test/support/chat-world';
import { as, tenantWithFlow } from '../../test/support/http-world';

interface ApprovalEvent {
  readonly pending: { readonly toolCall: { readonly id: string; readonly name: string } };
  readonly action: { readonly id: string; readonly summary: string; readonly preview: { readonly flow: { readonly slug: string } }; readonly input: unknown } | null;
}

await describeEachDatabase<DataMachineDatabase>('chat tool modes', (database) => {
  const world = useChatWorld(database);

  async function turn(agent: string, token: string, payload: Record<string, unknown>) {
    const response = await world.app.inject({ method: 'POST', url: `/agents/${agent}/chat`, headers: as(token), payload });
    const events: ReadEvent[] = String(response.headers['content-type']).startsWith('text/event-stream') ? parseEventStream(response.body) : [];
    const runEnd = events.find((event) => event.event === 'run_end');
    return {
      response,
      events,
      sessionId: response.headers['x-session-id'] as string,
      status: (JSON.parse(runEnd?.data ?? '{}') as { result?: { status?: string } }).result?.status,
      approvals: events.filter((event) => event.event === 'approval_required').map((event) => JSON.parse(event.data) as ApprovalEvent),
      toolResults: events.filter((event) => event.event === 'tool_result').map((event) => (JSON.parse(event.data) as { execution: { toolName: string; outcome: string; content: string } }).execution),
    };
  }

  async function jobsOf(agent: string, token: string): Promise<{ id: string; source: string }[]> {
    return (await world.app.inject({ method: 'GET', url: `/agents/${agent}/jobs`, headers: as(token) })).json().jobs as { id: string; source: string }[];
  }

  async function setToolModes(agent: string, token: string, toolModes: Record<string, unknown>) {
    const response = await world.app.inject({ method: 'PATCH', url: `/agents/${agent}`, headers: as(token), payload: { config: { toolModes } } });
    expect(response.statusCode).toBe(200);
  }

  /** The tool names the model was offered in the nth completion request. */
  const offered = (index: number) => (world.model.completionRequests()[index]?.tools ?? []).map((tool) => (tool as { function: { name: string } }).function.name).sort();

  /** A turn in which the model calls run_flow on `daily`, held for approval by the chat preset. */
  async function heldRun(slug: string) {
    const flow = await tenantWithFlow(world.app, world.context, slug);
    world.model.enqueue(toolCallReply({ id: 'call_run', name: 'run_flow', arguments: { flow: 'daily' } }));
    const held = await turn(flow.agent, flow.world.owner.token, { message: 'Run the daily flow.' });
    const action = held.approvals[0]?.action;
    if (!action) throw new Error(`${slug}: the turn held no action`);
    return { ...flow, held, action };
  }

  // A turn is several model round trips and transactions: more than the default 5 s on a busy machine.
  describe('a turn of the agent', { timeout: 30_000 }, () => {
    it('offers the caller the product tools by the agent tool modes: a direct run_flow starts its job in the turn', async () => {
      const { world: tenant, agent } = await tenantWithFlow(world.app, world.context, 'chat-direct');
      await setToolModes(agent, tenant.owner.token, { tools: { run_flow: 'direct' } });
      world.model.enqueue(toolCallReply({ id: 'call_run', name: 'run_flow', arguments: { flow: 'daily' } }), textReply('Started.'));
      const done = await turn(agent, tenant.owner.token, { message: 'Run the daily flow.' });
      expect(offered(0)).toEqual(['get_job', 'list_flows', 'run_flow']);
      expect(done.status).toBe('completed');
      expect(done.approvals).toEqual([]);
      const jobs = await jobsOf(agent, tenant.owner.token);
      expect(jobs).toHaveLength(1);
      expect(done.toolResults).toEqual([expect.objectContaining({ toolName: 'run_flow', outcome: 'success' })]);
      expect(JSON.parse(done.toolResults[0]?.content ?? '{}')).toMatchObject({ id: jobs[0]?.id });
    });

    it('holds a previewed run_flow: the stream carries the pending action and its preview, and nothing runs', async () => {
      const { world: tenant, agent, held, action } = await heldRun('chat-preview');
      expect(held.status).toBe('approval_required');
      expect(held.approvals).toHaveLength(1);
      expect(held.approvals[0]?.pending.toolCall).toMatchObject({ id: 'call_run', name: 'run_flow' });
      expect(action).toMatchObject({ summary: expect.stringContaining('daily'), preview: { flow: { slug: 'daily' } }, input: { flow: 'daily' } });
      const stored = (await world.app.inject({ method: 'GET', url: `/approvals/${action.id}`, headers: as(tenant.owner.token) })).json();
      expect(stored).toMatchObject({ status: 'pending', sessionId: held.sessionId, jobId: null, stepKey: null, toolCallId: 'call_run', toolName: 'run_flow', input: { flow: 'daily' } });
      expect(await jobsOf(agent, tenant.owner.token)).toEqual([]);
      // The session's actions, listed by the session (the console reopens its cards from them).
      const bySession = await world.app.inject({ method: 'GET', url: `/approvals?agent=${agent}&session=${held.sessionId}`, headers: as(tenant.owner.token) });
      expect(bySession.json().approvals.map((listed: { id: string }) => listed.id)).toEqual([action.id]);
      const otherSession = await world.app.inject({ method: 'GET', url: `/approvals?agent=${agent}&session=no-such-session`, headers: as(tenant.owner.token) });
      expect(otherSession.json().approvals).toEqual([]);
    });

    it('refuses a next turn while the held call waits for a decision', async () => {
      const { world: tenant, agent, held, action } = await heldRun('chat-waiting');
      const next = await world.app.inject({ method: 'POST', url: `/agents/${agent}/chat`, headers: as(tenant.owner.token), payload: { sessionId: held.sessionId, message: 'Well?' } });
      expect([next.statusCode, next.json().error.code, next.json().error.details.actions]).toEqual([409, 'approval.pending', [action.id]]);
      expect(world.model.completionRequests()).toHaveLength(1);
    });

    it('applies an accepted action on the next turn: exactly one job, the result reaches the model, the conversation goes on', async () => {
      const { world: tenant, agent, held, action } = await heldRun('chat-accept');
      const accepted = await world.app.inject({ method: 'POST', url: `/approvals/${action.id}/accept`, headers: as(tenant.owner.token), payload: {} });
      expect([accepted.statusCode, accepted.json().status]).toEqual([200, 'applying']);
      world.model.enqueue(textReply('The daily flow is running.'));
      const resumed = await turn(agent, tenant.owner.token, { sessionId: held.sessionId });
      expect(resumed.status).toBe('completed');
      expect(resumed.toolResults).toEqual([expect.objectContaining({ toolName: 'run_flow', outcome: 'success' })]);
      const jobs = await jobsOf(agent, tenant.owner.token);
      expect(jobs).toHaveLength(1);
      const toolMessage = world.model.completionRequests()[1]?.messages.find((message) => message.role === 'tool');
      expect(toolMessage).toMatchObject({ tool_call_id: 'call_run', content: expect.stringContaining(jobs[0]?.id ?? 'no job') });
      const settled = (await world.app.inject({ method: 'GET', url: `/approvals/${action.id}`, headers: as(tenant.owner.token) })).json();
      expect(settled).toMatchObject({ status: 'accepted', result: { outcome: 'success', content: { id: jobs[0]?.id } } });
      // Single use: a second decision is refused, and the session goes on without running it again.
      const again = await world.app.inject({ method: 'POST', url: `/approvals/${action.id}/accept`, headers: as(tenant.owner.token), payload: {} });
      expect([again.statusCode, again.json().error.code]).toEqual([409, 'approval.already_resolved']);
      world.model.enqueue(textReply('Anything else?'));
      expect((await turn(agent, tenant.owner.token, { sessionId: held.sessionId, message: 'Thanks.' })).status).toBe('completed');
      expect(await jobsOf(agent, tenant.owner.token)).toHaveLength(1);
    });

    it('tells the model a rejection as the tool result, once, and runs nothing', async () => {
      const { world: tenant, agent, held, action } = await heldRun('chat-reject');
      const rejected = await world.app.inject({ method: 'POST', url: `/approvals/${action.id}/reject`, headers: as(tenant.owner.token), payload: { reason: 'Not today.' } });
      expect([rejected.statusCode, rejected.json().status]).toEqual([200, 'rejected']);
      world.model.enqueue(textReply('Understood, I will not run it.'), textReply('Fine.'));
      const resumed = await turn(agent, tenant.owner.token, { sessionId: held.sessionId, message: 'Why not?' });
      expect(resumed.status).toBe('completed');
      expect(resumed.toolResults).toEqual([expect.objectContaining({ toolName: 'run_flow', outcome: 'rejected', content: 'Rejected by the approver: Not today.' })]);
      const toolMessage = world.model.completionRequests()[1]?.messages.find((message) => message.role === 'tool');
      expect(toolMessage).toMatchObject({ tool_call_id: 'call_run', content: 'Rejected by the approver: Not today.' });
      expect(await jobsOf(agent, tenant.owner.token)).toEqual([]);
      // Told once: the next turn has nothing left to apply.
      const later = await turn(agent, tenant.owner.token, { sessionId: held.sessionId, message: 'OK.' });
      expect([later.status, later.toolResults]).toEqual(['completed', []]);
    });

    it('never runs an accepted action whose stored call is not the held one', async () => {
      const { world: tenant, agent, held, action } = await heldRun('chat-tampered');
      await world.app.inject({ method: 'POST', url: `/approvals/${action.id}/accept`, headers: as(tenant.owner.token), payload: {} });
      await database.db.updateTable('dm_pending_actions').set({ input: JSON.stringify({ flow: 'other' }) }).where('id', '=', action.id).execute();
      world.model.enqueue(textReply('It was not run.'));
      const resumed = await turn(agent, tenant.owner.token, { sessionId: held.sessionId });
      expect(resumed.toolResults).toEqual([expect.objectContaining({ toolName: 'run_flow', outcome: 'error', content: expect.stringContaining('accepted exactly this call') })]);
      expect(await jobsOf(agent, tenant.owner.token)).toEqual([]);
    });

    it('does not offer a forbidden tool', async () => {
      const { world: tenant, agent } = await tenantWithFlow(world.app, world.context, 'chat-forbidden');
      await setToolModes(agent, tenant.owner.token, { tools: { run_flow: 'forbidden' }, categories: { read: 'direct' } });
      world.model.enqueue(textReply('I cannot run flows here.'));
      await turn(agent, tenant.owner.token, { message: 'Run the daily flow.' });
      expect(offered(0)).toEqual(['get_job', 'list_flows']);
    });

    it('offers a viewer only what the viewer may do: a call of run_flow is refused and starts nothing', async () => {
      const { world: tenant, agent, viewer } = await tenantWithFlow(world.app, world.context, 'chat-viewer');
      world.model.enqueue(toolCallReply({ id: 'call_run', name: 'run_flow', arguments: { flow: 'daily' } }), textReply('I may not run it.'));
      const done = await turn(agent, viewer.token, { message: 'Run the daily flow.' });
      expect(offered(0)).toEqual(['list_flows']);
      expect(done.approvals).toEqual([]);
      expect(done.toolResults).toEqual([expect.objectContaining({ toolName: 'run_flow', outcome: 'error' })]);
      expect(await jobsOf(agent, tenant.owner.token)).toEqual([]);
    });

    it('keeps client tools working beside the server tools, and refuses one named like a server tool', async () => {
      const { world: tenant, agent } = await tenantWithFlow(world.app, world.context, 'chat-client-tools');
      const clash = await world.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: as(tenant.owner.token),
        payload: { model: agent, messages: [{ role: 'user', content: 'Hi' }], tools: [{ type: 'function', function: { name: 'list_flows', parameters: { type: 'object', properties: {} } } }] },
      });
      expect([clash.statusCode, clash.json().error.code]).toEqual([400, 'input.invalid']);
      world.model.enqueue(toolCallReply({ id: 'call_weather', name: 'weather', arguments: { city: 'Oslo' } }));
      const handed = await world.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: as(tenant.owner.token),
        payload: { model: agent, messages: [{ role: 'user', content: 'Weather?' }], tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }] },
      });
      expect(handed.statusCode).toBe(200);
      expect(handed.json().choices[0].message.tool_calls[0]).toMatchObject({ id: 'call_weather', function: { name: 'weather' } });
      // A stateless turn never offers a tool that would wait for a decision no one could apply.
      expect(offered(0)).toEqual(['get_job', 'list_flows', 'weather']);
    });
  });
});
