/** @vitest-environment jsdom */
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PipelineBuilder, type HandlerInfo, type PipelineStep } from './pipeline-builder';

const handlers: HandlerInfo[] = [
  { slug: 'rss', kind: 'fetch', description: 'RSS feed', secretName: null, configSchema: { type: 'object', properties: { url: { type: 'string', format: 'uri' }, maxItems: { default: 50, type: 'integer' } }, required: ['url'] } },
  { slug: 'records', kind: 'publish', description: 'Stored records', secretName: null, configSchema: { type: 'object', properties: { collection: { type: 'string' } }, required: ['collection'] } },
  { slug: 'wordpress', kind: 'publish', description: 'WordPress', secretName: 'wordpress_application_password', configSchema: { type: 'object', properties: { siteUrl: { type: 'string' }, status: { default: 'draft', type: 'string', enum: ['publish', 'draft'] } }, required: ['siteUrl'] } },
];

function build(props: { initialSteps?: PipelineStep[]; errors?: ReadonlyMap<string, string>; isNew?: boolean } = {}) {
  const onSave = vi.fn();
  render(<PipelineBuilder handlers={handlers} isNew={props.isNew ?? true} onSave={onSave} {...(props.initialSteps ? { initialSteps: props.initialSteps, initialName: 'Digest' } : {})} {...(props.errors ? { errors: props.errors } : {})} />);
  return onSave;
}
const addStep = (type: string) => {
  fireEvent.change(screen.getByLabelText('New step type'), { target: { value: type } });
  fireEvent.click(screen.getByRole('button', { name: 'Add step' }));
};
const stepKeys = () => within(screen.getByRole('list', { name: 'Steps' })).getAllByLabelText('Step key').map((input) => (input as HTMLInputElement).value);

// Dozens of renders in jsdom: seconds on a loaded machine, past vitest's 5 s default. Not a timing assertion.
const slowRender = 30_000;

describe('pipeline builder', () => {
  afterEach(cleanup);

  it("builds a pipeline from steps: each handler step starts with its kind's first handler and that handler's default configuration", { timeout: slowRender }, () => {
    const onSave = build();
    fireEvent.change(screen.getByLabelText('Pipeline slug'), { target: { value: 'digest' } });
    fireEvent.change(screen.getByLabelText('Pipeline name'), { target: { value: 'Digest' } });
    addStep('fetch');
    addStep('ai');
    addStep('publish');
    expect(stepKeys()).toEqual(['fetch', 'ai', 'publish']);
    const publish = screen.getByRole('listitem', { name: 'Step 3: publish' });
    // Handlers of the step's kind only.
    expect([...(within(publish).getByLabelText('Handler') as HTMLSelectElement).options].map((option) => option.value)).toEqual(['records', 'wordpress']);
    fireEvent.change(within(publish).getByLabelText('Handler'), { target: { value: 'wordpress' } });
    fireEvent.change(within(publish).getByLabelText('siteUrl (required)'), { target: { value: 'https://blog.example' } });
    fireEvent.change(within(screen.getByRole('listitem', { name: 'Step 1: fetch' })).getByLabelText('url (required)'), { target: { value: 'https://feed.example/rss' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save pipeline' }));
    expect(onSave).toHaveBeenCalledWith({
      slug: 'digest',
      name: 'Digest',
      steps: [
        { key: 'fetch', type: 'fetch', handler: 'rss', config: { maxItems: 50, url: 'https://feed.example/rss' } },
        { key: 'ai', type: 'ai', config: {} },
        { key: 'publish', type: 'publish', handler: 'wordpress', config: { status: 'draft', siteUrl: 'https://blog.example' } },
      ],
    });
  });

  it('reorders and removes steps, keeping each step with its own configuration', () => {
    const onSave = build({
      isNew: false,
      initialSteps: [
        { key: 'think', type: 'ai', config: {} },
        { key: 'store', type: 'publish', handler: 'records', config: { collection: 'notes' } },
        { key: 'wait', type: 'webhook_gate', config: {} },
      ],
    });
    expect(screen.queryByLabelText('Pipeline slug')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Move step store up' }));
    expect(stepKeys()).toEqual(['store', 'think', 'wait']);
    expect(screen.getByRole('button', { name: 'Move step store up' }).hasAttribute('disabled')).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Move step think down' }));
    fireEvent.click(screen.getByRole('button', { name: 'Remove step wait' }));
    expect(stepKeys()).toEqual(['store', 'think']);
    expect((within(screen.getByRole('listitem', { name: 'Step 1: store' })).getByLabelText('collection (required)') as HTMLInputElement).value).toBe('notes');
    fireEvent.click(screen.getByRole('button', { name: 'Save pipeline' }));
    expect(onSave.mock.calls[0]?.[0].steps).toEqual([
      { key: 'store', type: 'publish', handler: 'records', config: { collection: 'notes' } },
      { key: 'think', type: 'ai', config: {} },
    ]);
  });

  it('gives a second step of one type a free key, and a changed type its handler', () => {
    build();
    addStep('ai');
    addStep('ai');
    expect(stepKeys()).toEqual(['ai', 'ai-2']);
    const second = screen.getByRole('listitem', { name: 'Step 2: ai-2' });
    expect(within(second).queryByLabelText('Handler')).toBeNull();
    fireEvent.change(within(second).getByLabelText('Step type'), { target: { value: 'upsert' } });
    expect((within(second).getByLabelText('Handler') as HTMLSelectElement).value).toBe('records');
  });

  it("marks the fields a refused save names: a step's key, type, handler and configuration", () => {
    build({
      isNew: false,
      initialSteps: [
        { key: 'think', type: 'ai', config: {} },
        { key: 'store', type: 'publish', handler: 'records', config: {} },
      ],
      errors: new Map([
        ['steps.0.type', 'a fetch step must be the first step'],
        ['steps.1.key', 'the key "think" is used by an earlier step'],
        ['steps.1.config.collection', 'Invalid input: expected string'],
      ]),
    });
    const first = screen.getByRole('listitem', { name: 'Step 1: think' });
    const second = screen.getByRole('listitem', { name: 'Step 2: store' });
    expect(within(first).getByLabelText('Step type').getAttribute('aria-invalid')).toBe('true');
    expect(within(first).getByText('a fetch step must be the first step')).toBeTruthy();
    expect(within(second).getByLabelText('Step key').getAttribute('aria-invalid')).toBe('true');
    expect(within(second).getByLabelText('collection (required)').getAttribute('aria-invalid')).toBe('true');
    expect(within(first).getByLabelText('Step key').getAttribute('aria-invalid')).toBe('false');
  });

  it('disables the save with the reason when the role refuses it, and saves nothing', () => {
    const onSave = vi.fn();
    render(<PipelineBuilder handlers={handlers} isNew onSave={onSave} refusal="Your role on this agent is operator; only an admin or above may do this." />);
    const save = screen.getByRole('button', { name: 'Save pipeline' });
    expect(save.hasAttribute('disabled')).toBe(true);
    expect(save.getAttribute('title')).toBe('Your role on this agent is operator; only an admin or above may do this.');
    expect(screen.getByText('Save pipeline: Your role on this agent is operator; only an admin or above may do this.')).toBeTruthy();
    fireEvent.click(save);
    expect(onSave).not.toHaveBeenCalled();
  });
});

