import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { createFlow } from '../flows/flow-repository';
import { createJob } from '../jobs/job-lifecycle';
import { createPipeline } from '../pipelines/pipeline-repository';
import { asEngine } from '../../test/support/engine-fixture';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { digestStepConfig, digestSteps, flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { signApprovalLink } from './approval-links';
import { expirePendingActions, expiredReason, previewApprovalLink, resolveByApprovalLink, resolvePendingAction, type ReleaseJob } from './approval-resolution';
import type { PendingAction } from './pending-action';
import { getPendingAction, holdPendingAction, listPendingActions, settleAction } from './pending-action-repository';

const secret = 'a server secret of enough length for tests';

/** A release that records what it was asked to release, and can refuse like a job that is not waiting. */
function recordingRelease(refuse?: 'job.not_waiting'): ReleaseJob & { readonly calls: { jobId: string; signal: string; payload: unknown }[] } {
  const calls: { jobId: string; signal: string; payload: unknown }[] = [];
  const release = async (_trx: unknown, { jobId, signal, payload }: { jobId: string; signal: string; payload: unknown }) => {
    // Cast: the lead's engine code is the real one; here the code is what a refusal carries.
    if (refuse) throw new DataMachineError(refuse as never, 'The job is not waiting for that signal.');
    calls.push({ jobId, signal, payload });
  };
  return Object.assign(release, { calls });
}

await describeEachDatabase<DataMachineDatabase>('pending actions', (database) => {
  let context: TestContext;
  let world: FlowWorld;
  let flowId: string;

  beforeAll(async () => {
    context = await migratedContext(database.db);
    world = await flowWorld(context, 'approvals');
    await createPipeline(context, world.owner, world.handlers, 'bot', { slug: 'digest', name: 'digest', steps: digestSteps });
    flowId = (await createFlow(context, world.owner, world.handlers, 'bot', { pipeline: 'digest', slug: 'digest', name: 'digest', stepConfig: digestStepConfig })).id;
  });

  /** A new job and one action held in it, expiring in an hour. */
  async function heldAction(toolCallId = 'call_1'): Promise<PendingAction> {
    return asEngine(context, world.tenant.id, async (trx) => {
      const { job } = await createJob(context, trx, { flowId, source: 'manual', createdBy: world.userIds.operator });
      return holdPendingAction(context, trx, world.tenant.id, {
        agentId: world.agent.id,
        jobId: job.id,
        stepKey: 'summarize',
        toolCallId,
        kind: 'publish',
        summary: 'Publish to step "store"',
        preview: { title: 'Hello' },
        toolName: 'publish_store',
        input: { title: 'Hello' },
        triggeredBy: world.userIds.operator,
        expiresAt: new Date(context.now().getTime() + 60 * 60 * 1000),
      });
    });
  }

  describe('holding', () => {
    it('stores a pending action once per job, step and tool call', async () => {
      const first = await heldAction();
      const again = await asEngine(context, world.tenant.id, (trx) =>
        holdPendingAction(context, trx, world.tenant.id, { ...first, jobId: String(first.jobId), stepKey: 'summarize', summary: 'another', expiresAt: new Date(0) }),
      );
      expect(again).toEqual(first);
      expect(first).toMatchObject({ status: 'pending', toolName: 'publish_store', input: { title: 'Hello' }, triggeredBy: world.userIds.operator });
    });
  });

  describe('listing and reading', () => {
    it('lists actions newest first, by agent and status, a page at a time', async () => {
      // Later than every other action of the suite, and one after the other.
      const start = context.now();
      context.setNow(new Date(start.getTime() + 1000));
      const a = await heldAction();
      context.setNow(new Date(start.getTime() + 2000));
      const b = await heldAction().finally(() => context.setNow(start));
      const page = await listPendingActions(context, world.viewer, { agent: 'bot', status: 'pending', limit: 1 });
      expect(page.items.map((item) => item.id)).toEqual([b.id]);
      const next = await listPendingActions(context, world.viewer, { agent: 'bot', status: 'pending', limit: 1, cursor: page.nextCursor ?? '' });
      expect(next.items.map((item) => item.id)).toEqual([a.id]);
    });

    it('shows a member without a role on the agent nothing, and refuses its agent filter as a missing agent', async () => {
      await heldAction();
      expect((await listPendingActions(context, world.member)).items).toEqual([]);
      expect(await codeOf(listPendingActions(context, world.member, { agent: 'bot' }))).toBe('agent.not_found');
    });

    it('answers an action on an invisible agent as a missing action (approval.not_found)', async () => {
      const action = await heldAction();
      expect(await codeOf(getPendingAction(context, world.member, action.id))).toBe('approval.not_found');
      expect(await codeOf(getPendingAction(context, world.viewer, 'act_missing'))).toBe('approval.not_found');
      expect((await getPendingAction(context, world.viewer, action.id)).id).toBe(action.id);
    });
  });

  describe('resolving', () => {
    it('accepts: pending -> applying, and releases the job with the decision', async () => {
      const action = await heldAction();
      const release = recordingRelease();
      const decided = await resolvePendingAction(context, release, world.operator, action.id, 'accept');
      expect(decided).toMatchObject({ status: 'applying', decidedBy: world.userIds.operator, decidedVia: 'api' });
      expect(release.calls).toEqual([{ jobId: action.jobId, signal: `approval:${action.id}`, payload: { actionId: action.id, decision: 'accept', reason: null } }]);
    });

    it('rejects with a reason: pending -> rejected', async () => {
      const action = await heldAction();
      const release = recordingRelease();
      const decided = await resolvePendingAction(context, release, world.admin, action.id, 'reject', { reason: 'Wrong tone.' });
      expect(decided).toMatchObject({ status: 'rejected', reason: 'Wrong tone.' });
      expect(release.calls[0]?.payload).toEqual({ actionId: action.id, decision: 'reject', reason: 'Wrong tone.' });
    });

    it('refuses a viewer (access.denied) and changes nothing', async () => {
      const action = await heldAction();
      expect(await codeOf(resolvePendingAction(context, recordingRelease(), world.viewer, action.id, 'accept'))).toBe('access.denied');
      expect((await getPendingAction(context, world.viewer, action.id)).status).toBe('pending');
    });

    it('refuses a second decision (approval.already_resolved)', async () => {
      const action = await heldAction();
      await resolvePendingAction(context, recordingRelease(), world.operator, action.id, 'reject');
      expect(await codeOf(resolvePendingAction(context, recordingRelease(), world.operator, action.id, 'accept'))).toBe('approval.already_resolved');
    });

    it.each([
      ['accept', 'accept'],
      ['accept', 'reject'],
    ] as const)('gives one winner of two concurrent decisions (%s + %s) and one approval.already_resolved', async (first, second) => {
      const action = await heldAction();
      const release = recordingRelease();
      const outcomes = await Promise.allSettled([
        resolvePendingAction(context, release, world.operator, action.id, first),
        resolvePendingAction(context, release, world.admin, action.id, second),
      ]);
      const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const lost = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as DataMachineError] : []));
      expect(won).toHaveLength(1);
      expect(lost.map((error) => error.code)).toEqual(['approval.already_resolved']);
      expect(release.calls).toHaveLength(1);
    });

    it('writes nothing when the job cannot be released (the release error rolls the decision back)', async () => {
      const action = await heldAction();
      expect(await codeOf(resolvePendingAction(context, recordingRelease('job.not_waiting'), world.operator, action.id, 'accept'))).toBe('job.not_waiting');
      expect((await getPendingAction(context, world.viewer, action.id)).status).toBe('pending');
    });

    it('refuses a decision past the expiry (approval.expired)', async () => {
      const action = await heldAction();
      context.setNow(new Date(action.expiresAt.getTime() + 1));
      try {
        expect(await codeOf(resolvePendingAction(context, recordingRelease(), world.operator, action.id, 'accept'))).toBe('approval.expired');
      } finally {
        context.setNow(action.createdAt);
      }
    });

    it('records how applying ended: applying -> accepted with the result', async () => {
      const action = await heldAction();
      await resolvePendingAction(context, recordingRelease(), world.operator, action.id, 'accept');
      await asEngine(context, world.tenant.id, (trx) => settleAction(context, trx, action.id, { status: 'accepted', result: { id: 'r1' } }));
      expect(await getPendingAction(context, world.viewer, action.id)).toMatchObject({ status: 'accepted', result: { id: 'r1' } });
    });
  });

  describe('signed links', () => {
    const inAnHour = () => new Date(context.now().getTime() + 60 * 60 * 1000);

    it('shows what the link will do without deciding anything', async () => {
      const action = await heldAction();
      const token = signApprovalLink(secret, { tenantId: world.tenant.id, actionId: action.id, decision: 'accept', expiresAt: inAnHour() });
      const preview = await previewApprovalLink(context, secret, token);
      expect(preview).toMatchObject({ decision: 'accept', action: { id: action.id, status: 'pending', input: { title: 'Hello' } } });
    });

    it('decides once with a valid link, recording it as decided by link', async () => {
      const action = await heldAction();
      const release = recordingRelease();
      const token = signApprovalLink(secret, { tenantId: world.tenant.id, actionId: action.id, decision: 'reject', expiresAt: inAnHour() });
      expect(await resolveByApprovalLink(context, release, secret, token, { reason: 'No.' })).toMatchObject({ status: 'rejected', decidedVia: 'link', decidedBy: null, reason: 'No.' });
      expect(await codeOf(resolveByApprovalLink(context, release, secret, token))).toBe('approval.already_resolved');
      expect(release.calls).toHaveLength(1);
    });

    it('refuses a tampered link: another decision, another action, another key (approval.link_invalid)', async () => {
      const action = await heldAction();
      const token = signApprovalLink(secret, { tenantId: world.tenant.id, actionId: action.id, decision: 'reject', expiresAt: inAnHour() });
      const [prefix, payload, mac] = token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      const altered = `${prefix}.${Buffer.from(JSON.stringify({ ...claims, d: 'accept' })).toString('base64url')}.${mac}`;
      expect(await codeOf(resolveByApprovalLink(context, recordingRelease(), secret, altered))).toBe('approval.link_invalid');
      expect(await codeOf(resolveByApprovalLink(context, recordingRelease(), 'another secret', token))).toBe('approval.link_invalid');
      expect(await codeOf(resolveByApprovalLink(context, recordingRelease(), secret, 'not-a-token'))).toBe('approval.link_invalid');
      expect((await getPendingAction(context, world.viewer, action.id)).status).toBe('pending');
    });

    it('refuses an expired link (approval.link_expired)', async () => {
      const action = await heldAction();
      const token = signApprovalLink(secret, { tenantId: world.tenant.id, actionId: action.id, decision: 'accept', expiresAt: new Date(context.now().getTime() - 1000) });
      expect(await codeOf(resolveByApprovalLink(context, recordingRelease(), secret, token))).toBe('approval.link_expired');
      expect(await codeOf(previewApprovalLink(context, secret, token))).toBe('approval.link_expired');
    });
  });

  describe('the expiry sweep', () => {
    it('rejects actions past their expiry and releases their jobs; a job no longer waiting keeps the rejection', async () => {
      const waiting = await heldAction();
      const later = await asEngine(context, world.tenant.id, (trx) =>
        holdPendingAction(context, trx, world.tenant.id, { ...waiting, jobId: String(waiting.jobId), stepKey: 'summarize', toolCallId: 'call_later', expiresAt: new Date(waiting.expiresAt.getTime() + 10 * 60 * 60 * 1000) }),
      );
      const release = recordingRelease();
      context.setNow(new Date(waiting.expiresAt.getTime() + 1));
      try {
        const report = await expirePendingActions(context, release);
        expect(report.rejected).toBeGreaterThanOrEqual(1);
        expect(await getPendingAction(context, world.viewer, waiting.id)).toMatchObject({ status: 'rejected', decidedVia: 'expiry', reason: expiredReason });
        expect(release.calls.map((call) => call.signal)).toContain(`approval:${waiting.id}`);
        expect((await getPendingAction(context, world.viewer, later.id)).status).toBe('pending');
        const stale = await heldAction('call_stale');
        context.setNow(new Date(stale.expiresAt.getTime() + 1));
        await expirePendingActions(context, recordingRelease('job.not_waiting'));
        expect((await getPendingAction(context, world.viewer, stale.id)).status).toBe('rejected');
      } finally {
        context.setNow(waiting.createdAt);
      }
    });
  });
});
