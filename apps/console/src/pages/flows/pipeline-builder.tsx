import { useId, useRef, useState } from 'react';
import type { paths } from '../../api/client';
import { Button, TextField } from '../../components/ui';
import { defaultValue, errorsUnder, type JsonObject, type JsonSchema } from './json-schema';
import { SchemaForm } from './schema-form';

/** A handler as `GET /handlers` lists it. */
export type HandlerInfo = paths['/handlers']['get']['responses'][200]['content']['application/json']['handlers'][number];
/** A pipeline step as the API takes it. */
export type PipelineStep = paths['/agents/{agent}/pipelines']['post']['requestBody']['content']['application/json']['steps'][number];
type StepType = PipelineStep['type'];

/** The step types, in words, with the handler kind each calls (none for `ai` and `webhook_gate`). */
const stepTypes: readonly { readonly type: StepType; readonly words: string; readonly handlerKind?: HandlerInfo['kind'] }[] = [
  { type: 'fetch', words: 'Fetch (first step only)', handlerKind: 'fetch' },
  { type: 'ai', words: 'AI (the agent)' },
  { type: 'publish', words: 'Publish', handlerKind: 'publish' },
  { type: 'upsert', words: 'Upsert', handlerKind: 'publish' },
  { type: 'webhook_gate', words: 'Wait for a webhook' },
];
const handlerKindOf = (type: StepType) => stepTypes.find((entry) => entry.type === type)?.handlerKind;

/** A step of the builder: its fields, and the handler (if any) while the type needs one. */
interface DraftStep {
  /** Keeps a step's form state with it when steps are reordered (its key may be edited). */
  readonly uid: string;
  readonly key: string;
  readonly type: StepType;
  readonly handler: string;
  readonly config: JsonObject;
}

/** A new step of `type`: the first handler of its kind, with that handler's default configuration. */
export function newStep(type: StepType, handlers: readonly HandlerInfo[], taken: readonly string[], uid = ''): DraftStep {
  const handler = handlers.find((candidate) => candidate.kind === handlerKindOf(type));
  let key: string = type.replace('_', '-');
  for (let suffix = 2; taken.includes(key); suffix += 1) key = `${type.replace('_', '-')}-${suffix}`;
  return { uid, key, type, handler: handler?.slug ?? '', config: handler ? defaultValue(handler.configSchema as JsonSchema) : {} };
}

/** The draft steps as the API takes them: a handler only on the types that call one. */
export function toPipelineSteps(steps: readonly DraftStep[]): PipelineStep[] {
  return steps.map((step) => (handlerKindOf(step.type) === undefined ? { key: step.key, type: step.type, config: step.config } : { key: step.key, type: step.type, handler: step.handler, config: step.config }) as PipelineStep);
}

/** What {@link PipelineBuilder} takes. */
export interface PipelineBuilderProps {
  readonly handlers: readonly HandlerInfo[];
  /** The steps to start from (an existing pipeline's), or none for a new one. */
  readonly initialSteps?: readonly PipelineStep[];
  /** Shown for a new pipeline: its slug and name are asked for. */
  readonly isNew: boolean;
  readonly initialName?: string;
  /** Field errors of the last save, by path (`steps.0.key`, `slug`). */
  readonly errors?: ReadonlyMap<string, string>;
  readonly saving?: boolean;
  /** Why the caller may not save (their role), or undefined when they may: the save is then disabled with it. */
  readonly refusal?: string | undefined;
  readonly onSave: (pipeline: { readonly slug: string; readonly name: string; readonly steps: PipelineStep[] }) => void;
}

/**
 * The pipeline builder: add, remove and reorder steps; each step's type and
 * (for fetch, publish and upsert) its handler from `GET /handlers`, whose
 * default configuration the step starts with and whose JSON schema generates
 * the step's configuration form.
 */
export function PipelineBuilder({ handlers, initialSteps = [], isNew, initialName = '', errors = new Map(), saving = false, refusal, onSave }: PipelineBuilderProps) {
  const [slug, setSlug] = useState('');
  const [name, setName] = useState(initialName);
  // Step identities for React only (crypto.randomUUID needs a secure context; a plain http console has none).
  const uids = useRef(initialSteps.length);
  const [steps, setSteps] = useState<DraftStep[]>(() => initialSteps.map((step, index) => ({ uid: String(index), key: step.key, type: step.type, handler: 'handler' in step ? step.handler : '', config: (step.config ?? {}) as JsonObject })));
  const [addType, setAddType] = useState<StepType>(initialSteps.length === 0 ? 'fetch' : 'ai');
  const addId = useId();
  const change = (index: number, next: DraftStep) => setSteps((current) => current.map((step, at) => (at === index ? next : step)));
  const move = (index: number, by: -1 | 1) =>
    setSteps((current) => {
      const next = [...current];
      const [moved] = next.splice(index, 1);
      if (moved) next.splice(index + by, 0, moved);
      return next;
    });
  return (
    <form
      className="pipeline-builder"
      aria-label="Pipeline builder"
      onSubmit={(event) => {
        event.preventDefault();
        onSave({ slug, name, steps: toPipelineSteps(steps) });
      }}
    >
      {isNew && <TextField label="Pipeline slug" value={slug} error={errors.get('slug')} onChange={(event) => setSlug(event.target.value)} />}
      <TextField label="Pipeline name" value={name} error={errors.get('name')} onChange={(event) => setName(event.target.value)} />
      {errors.get('steps') !== undefined && (
        <p role="alert" className="field-error">
          {errors.get('steps')}
        </p>
      )}
      <ol className="steps" aria-label="Steps">
        {steps.map((step, index) => (
          <StepEditor
            key={step.uid}
            step={step}
            index={index}
            count={steps.length}
            handlers={handlers}
            errors={errors}
            onChange={(next) => change(index, next)}
            onMove={(by) => move(index, by)}
            onRemove={() => setSteps((current) => current.filter((_, at) => at !== index))}
          />
        ))}
      </ol>
      {steps.length === 0 && <p>No steps yet: a pipeline starts with a fetch or an AI step.</p>}
      <div className="actions">
        <label htmlFor={addId}>New step type</label>
        <select id={addId} value={addType} onChange={(event) => setAddType(event.target.value as StepType)}>
          {stepTypes.map((entry) => (
            <option key={entry.type} value={entry.type}>
              {entry.words}
            </option>
          ))}
        </select>
        <Button
          onClick={() => {
            const uid = String(uids.current++);
            setSteps((current) => [...current, newStep(addType, handlers, current.map((step) => step.key), uid)]);
          }}
        >
          Add step
        </Button>
      </div>
      <div className="actions">
        <button type="submit" className="button button-primary" disabled={saving || refusal !== undefined} title={refusal} aria-describedby={refusal === undefined ? undefined : 'pipeline-save-role'}>
          Save pipeline
        </button>
        {refusal !== undefined && (
          <span id="pipeline-save-role" className="hint">
            Save pipeline: {refusal}
          </span>
        )}
      </div>
    </form>
  );
}

function StepEditor({
  step,
  index,
  count,
  handlers,
  errors,
  onChange,
  onMove,
  onRemove,
}: {
  readonly step: DraftStep;
  readonly index: number;
  readonly count: number;
  readonly handlers: readonly HandlerInfo[];
  readonly errors: ReadonlyMap<string, string>;
  readonly onChange: (step: DraftStep) => void;
  readonly onMove: (by: -1 | 1) => void;
  readonly onRemove: () => void;
}) {
  const typeId = useId();
  const handlerId = useId();
  const kind = handlerKindOf(step.type);
  const choices = handlers.filter((handler) => handler.kind === kind);
  const handler = handlers.find((candidate) => candidate.slug === step.handler && candidate.kind === kind);
  const at = `steps.${index}`;
  const chooseHandler = (slug: string) => {
    const chosen = handlers.find((candidate) => candidate.slug === slug);
    onChange({ ...step, handler: slug, config: chosen ? defaultValue(chosen.configSchema as JsonSchema) : {} });
  };
  return (
    <li className="card step" aria-label={`Step ${index + 1}: ${step.key}`}>
      <div className="actions">
        <Button aria-label={`Move step ${step.key} up`} disabled={index === 0} onClick={() => onMove(-1)}>
          ↑
        </Button>
        <Button aria-label={`Move step ${step.key} down`} disabled={index === count - 1} onClick={() => onMove(1)}>
          ↓
        </Button>
        <Button variant="danger" aria-label={`Remove step ${step.key}`} onClick={onRemove}>
          Remove
        </Button>
      </div>
      <TextField label="Step key" value={step.key} error={errors.get(`${at}.key`)} onChange={(event) => onChange({ ...step, key: event.target.value })} />
      <div className="field">
        <label htmlFor={typeId}>Step type</label>
        <select
          id={typeId}
          value={step.type}
          aria-invalid={errors.get(`${at}.type`) !== undefined}
          onChange={(event) => {
            const type = event.target.value as StepType;
            const fresh = newStep(type, handlers, []);
            onChange({ ...step, type, handler: fresh.handler, config: fresh.config });
          }}
        >
          {stepTypes.map((entry) => (
            <option key={entry.type} value={entry.type}>
              {entry.words}
            </option>
          ))}
        </select>
        {errors.get(`${at}.type`) !== undefined && <small className="field-error">{errors.get(`${at}.type`)}</small>}
      </div>
      {kind !== undefined && (
        <div className="field">
          <label htmlFor={handlerId}>Handler</label>
          <select id={handlerId} value={step.handler} aria-invalid={errors.get(`${at}.handler`) !== undefined} onChange={(event) => chooseHandler(event.target.value)}>
            {handler === undefined && <option value={step.handler}>{step.handler === '' ? 'Choose…' : `${step.handler} (not offered)`}</option>}
            {choices.map((choice) => (
              <option key={choice.slug} value={choice.slug}>
                {choice.slug}: {choice.description}
              </option>
            ))}
          </select>
          {errors.get(`${at}.handler`) !== undefined && <small className="field-error">{errors.get(`${at}.handler`)}</small>}
        </div>
      )}
      {handler !== undefined && (
        <SchemaForm label={`Default configuration of step ${step.key}`} schema={handler.configSchema as JsonSchema} value={step.config} errors={errorsUnder(errors, [`${at}.config`])} onChange={(config) => onChange({ ...step, config })} />
      )}
    </li>
  );
}
