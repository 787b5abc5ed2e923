import { useEffect, useId, useState } from 'react';
import { TextArea, TextField } from '../../components/ui';
import { fieldKind, isJsonObject, setAt, type JsonObject, type JsonSchema } from './json-schema';

/** What {@link SchemaForm} takes. */
export interface SchemaFormProps {
  /** The object schema the form is generated from (a handler's `configSchema`). */
  readonly schema: JsonSchema;
  readonly value: JsonObject;
  readonly onChange: (value: JsonObject) => void;
  /** Errors by field path inside the value (`cursor.pointer`, `tags.1`); a path's error marks its field. */
  readonly errors?: ReadonlyMap<string, string>;
  /** Names the form for assistive technology, e.g. "Configuration of step fetch". */
  readonly label: string;
}

/**
 * A form generated from a JSON schema: text inputs for strings, number inputs,
 * checkboxes, selects for enums, one-per-line lists for arrays of strings,
 * fieldsets for nested objects, and a JSON text area for anything else. An
 * emptied optional field is removed from the value, so the server's default
 * applies. Errors from the server mark the field they name.
 */
export function SchemaForm({ schema, value, onChange, errors = new Map(), label }: SchemaFormProps) {
  return (
    <fieldset className="schema-form" aria-label={label}>
      {errors.get('') !== undefined && (
        <p role="alert" className="field-error">
          {errors.get('')}
        </p>
      )}
      <Properties schema={schema} value={value} path={[]} onChange={onChange} root={value} errors={errors} />
      {fieldKind(schema) === 'json' && Object.keys(schema.properties ?? {}).length === 0 && <p className="hint">This handler takes no configuration.</p>}
    </fieldset>
  );
}

interface NodeProps {
  readonly schema: JsonSchema;
  readonly path: readonly string[];
  readonly root: JsonObject;
  readonly onChange: (value: JsonObject) => void;
  readonly errors: ReadonlyMap<string, string>;
}

function Properties({ schema, value, ...node }: NodeProps & { readonly value: JsonObject }) {
  return (
    <>
      {Object.entries(schema.properties ?? {}).map(([name, property]) => (
        <Field key={name} {...node} name={name} schema={property} required={schema.required?.includes(name) ?? false} value={value[name]} path={[...node.path, name]} />
      ))}
    </>
  );
}

/** The error of a field: its own path's, or the first of an item inside it (`tags.1`). */
function errorAt(errors: ReadonlyMap<string, string>, path: string): string | undefined {
  const own = errors.get(path);
  if (own !== undefined) return own;
  for (const [at, message] of errors) if (at.startsWith(`${path}.`) && /^\d+$/.test(at.slice(path.length + 1).split('.')[0] ?? '')) return message;
  return undefined;
}

function Field({ name, schema, required, value, path, root, onChange, errors }: NodeProps & { readonly name: string; readonly required: boolean; readonly value: unknown }) {
  const kind = fieldKind(schema);
  const dotted = path.join('.');
  const error = errorAt(errors, dotted);
  const label = `${schema.title ?? name}${required ? ' (required)' : ''}`;
  const hint = schema.description ?? (schema.default !== undefined ? `Default: ${JSON.stringify(schema.default)}` : undefined);
  const set = (next: unknown) => onChange(setAt(root, path, next));
  const common = { label, error, ...(hint === undefined ? {} : { hint }) };
  switch (kind) {
    case 'enum':
      return <EnumField {...common} options={(schema.enum ?? []) as string[]} value={typeof value === 'string' ? value : ''} required={required} onChange={(next) => set(next === '' ? undefined : next)} />;
    case 'string':
      return <TextField {...common} type={schema.format === 'uri' ? 'url' : 'text'} {...(schema.maxLength === undefined ? {} : { maxLength: schema.maxLength })} aria-required={required} value={typeof value === 'string' ? value : ''} onChange={(event) => set(event.target.value === '' ? undefined : event.target.value)} />;
    case 'number':
    case 'integer':
      return (
        <TextField
          {...common}
          type="number"
          step={kind === 'integer' ? 1 : 'any'}
          {...(schema.minimum === undefined ? {} : { min: schema.minimum })}
          {...(schema.maximum === undefined ? {} : { max: schema.maximum })}
          aria-required={required}
          value={typeof value === 'number' ? String(value) : ''}
          onChange={(event) => set(event.target.value === '' || Number.isNaN(event.target.valueAsNumber) ? undefined : event.target.valueAsNumber)}
        />
      );
    case 'boolean':
      return <CheckboxField {...common} checked={value === true} onChange={(checked) => set(checked)} />;
    case 'string-list':
      return <ListField label={label} error={error} value={value} onChange={set} />;
    case 'object':
      return (
        <fieldset className="schema-group" aria-label={label}>
          <legend>{label}</legend>
          {error !== undefined && errors.get(dotted) !== undefined && <small className="field-error">{error}</small>}
          <Properties schema={schema} value={isJsonObject(value) ? value : {}} path={path} root={root} onChange={onChange} errors={errors} />
        </fieldset>
      );
    case 'json':
      return <JsonField {...common} value={value} onChange={set} />;
  }
}

function EnumField({ label, error, hint, options, value, required, onChange }: { readonly label: string; readonly error: string | undefined; readonly hint?: string; readonly options: readonly string[]; readonly value: string; readonly required: boolean; readonly onChange: (value: string) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} aria-invalid={error !== undefined} aria-required={required} onChange={(event) => onChange(event.target.value)}>
        <option value="">{required ? 'Choose…' : '(default)'}</option>
        {options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
      {hint !== undefined && <small className="hint">{hint}</small>}
      {error !== undefined && <small className="field-error">{error}</small>}
    </div>
  );
}

function CheckboxField({ label, error, checked, onChange }: { readonly label: string; readonly error: string | undefined; readonly checked: boolean; readonly onChange: (checked: boolean) => void }) {
  const id = useId();
  return (
    <div className="field field-inline">
      <input id={id} type="checkbox" checked={checked} aria-invalid={error !== undefined} onChange={(event) => onChange(event.target.checked)} />
      <label htmlFor={id}>{label}</label>
      {error !== undefined && <small className="field-error">{error}</small>}
    </div>
  );
}

const lines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');

/** An array of strings, one per line: the value holds the non-blank lines, the text keeps what is being typed. */
function ListField({ label, error, value, onChange }: { readonly label: string; readonly error: string | undefined; readonly value: unknown; readonly onChange: (value: unknown) => void }) {
  const items = Array.isArray(value) ? value.map(String) : [];
  const [text, setText] = useState(items.join('\n'));
  // Compared by content: a new array of the same items keeps the text being typed.
  const joined = items.join('\n');
  useEffect(() => {
    setText((current) => (lines(current).join('\n') === joined ? current : joined));
  }, [joined]);
  return (
    <TextArea
      label={`${label}, one per line`}
      error={error}
      value={text}
      onChange={(event) => {
        setText(event.target.value);
        const next = lines(event.target.value);
        onChange(next.length === 0 ? undefined : next);
      }}
    />
  );
}

/** Any other value, as JSON text: applied when it parses, marked when it does not. */
function JsonField({ label, error, hint, value, onChange }: { readonly label: string; readonly error: string | undefined; readonly hint?: string; readonly value: unknown; readonly onChange: (value: unknown) => void }) {
  const shown = value === undefined ? '' : JSON.stringify(value, null, 2);
  const [text, setText] = useState(shown);
  const [unreadable, setUnreadable] = useState(false);
  // A value changed from outside (a reset, a reload) replaces the text being edited.
  useEffect(() => {
    setText((current) => (sameJson(current, value) ? current : shown));
  }, [shown, value]);
  return (
    <TextArea
      label={`${label} (JSON)`}
      error={unreadable ? 'not valid JSON' : error}
      value={text}
      onChange={(event) => {
        setText(event.target.value);
        if (event.target.value.trim() === '') {
          setUnreadable(false);
          onChange(undefined);
          return;
        }
        try {
          onChange(JSON.parse(event.target.value) as unknown);
          setUnreadable(false);
        } catch {
          setUnreadable(true);
        }
      }}
      {...(hint === undefined ? {} : { title: hint })}
    />
  );
}

function sameJson(text: string, value: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}
