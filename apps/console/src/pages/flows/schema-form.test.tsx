/** @vitest-environment jsdom */
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultValue, errorsUnder, type JsonObject, type JsonSchema } from './json-schema';
import { SchemaForm } from './schema-form';

// The shapes of the server's handler schemas (zod 4's z.toJSONSchema of wordpress, http_json, records).
const schema: JsonSchema = {
  type: 'object',
  properties: {
    siteUrl: { type: 'string', format: 'uri' },
    status: { default: 'draft', type: 'string', enum: ['publish', 'draft', 'pending', 'private'] },
    timeoutMs: { default: 20000, type: 'integer', minimum: 100, maximum: 120000 },
    sticky: { type: 'boolean' },
    tags: { default: [], type: 'array', items: { type: 'string', minLength: 1 } },
    cursor: { type: 'object', properties: { pointer: { type: 'string' }, in: { default: 'query', type: 'string', enum: ['query', 'body'] } }, required: ['pointer'], additionalProperties: false },
    headers: { default: {}, type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'string' } } as JsonSchema,
  },
  required: ['siteUrl'],
  additionalProperties: false,
};

/** The form over a value it owns; the last value is read from `latest`. */
function Harness({ initial, errors, latest }: { readonly initial: JsonObject; readonly errors?: ReadonlyMap<string, string>; readonly latest: { value: JsonObject } }) {
  const [value, setValue] = useState(initial);
  latest.value = value;
  return (
    <SchemaForm
      label="Configuration"
      schema={schema}
      value={value}
      {...(errors === undefined ? {} : { errors })}
      onChange={(next) => {
        setValue(next);
      }}
    />
  );
}

describe('schema form', () => {
  afterEach(cleanup);

  it('generates an input per field by type: text, select for an enum, number, checkbox, list, nested fieldset, JSON', () => {
    render(<Harness initial={defaultValue(schema)} latest={{ value: {} }} />);
    expect((screen.getByLabelText('siteUrl (required)') as HTMLInputElement).type).toBe('url');
    const status = screen.getByLabelText('status') as HTMLSelectElement;
    expect([...status.options].map((option) => option.value)).toEqual(['', 'publish', 'draft', 'pending', 'private']);
    expect(status.value).toBe('draft');
    expect((screen.getByLabelText('timeoutMs') as HTMLInputElement).value).toBe('20000');
    expect((screen.getByLabelText('sticky') as HTMLInputElement).type).toBe('checkbox');
    expect(screen.getByLabelText('tags, one per line').tagName).toBe('TEXTAREA');
    const cursor = screen.getByRole('group', { name: 'cursor' });
    expect(within(cursor).getByLabelText('pointer (required)')).toBeTruthy();
    expect(within(cursor).getByLabelText('in')).toBeTruthy();
    // A record has no fixed fields: it is edited as JSON.
    expect((screen.getByLabelText('headers (JSON)') as HTMLTextAreaElement).value).toBe('{}');
  });

  it('starts from the defaults and builds the value as fields are filled, removing an emptied optional field', () => {
    const latest = { value: {} as JsonObject };
    render(<Harness initial={defaultValue(schema)} latest={latest} />);
    expect(latest.value).toEqual({ status: 'draft', timeoutMs: 20000, tags: [], headers: {} });
    fireEvent.change(screen.getByLabelText('siteUrl (required)'), { target: { value: 'https://blog.example' } });
    fireEvent.change(screen.getByLabelText('timeoutMs'), { target: { value: '500' } });
    fireEvent.click(screen.getByLabelText('sticky'));
    fireEvent.change(screen.getByLabelText('tags, one per line'), { target: { value: 'news\n\n  sport \n' } });
    fireEvent.change(screen.getByLabelText('pointer (required)'), { target: { value: '/next' } });
    fireEvent.change(screen.getByLabelText('headers (JSON)'), { target: { value: '{"x-api": "1"}' } });
    fireEvent.change(screen.getByLabelText('status'), { target: { value: '' } });
    expect(latest.value).toEqual({ siteUrl: 'https://blog.example', timeoutMs: 500, sticky: true, tags: ['news', 'sport'], cursor: { pointer: '/next' }, headers: { 'x-api': '1' } });
  });

  it('keeps the last good value while the JSON typed is unreadable, and says so on the field', () => {
    const latest = { value: {} as JsonObject };
    render(<Harness initial={{ headers: { a: '1' } }} latest={latest} />);
    fireEvent.change(screen.getByLabelText('headers (JSON)'), { target: { value: '{"a": ' } });
    expect(screen.getByText('not valid JSON')).toBeTruthy();
    expect(screen.getByLabelText('headers (JSON)').getAttribute('aria-invalid')).toBe('true');
    expect(latest.value).toEqual({ headers: { a: '1' } });
  });

  it("marks the fields a server refusal names, nested and list items included, from the flow's issue paths", () => {
    const issues = new Map([
      ['steps.publish.handlerConfig.siteUrl', 'Invalid URL'],
      ['stepConfig.publish.handlerConfig.cursor.pointer', 'Invalid string'],
      ['steps.publish.handlerConfig.tags.1', 'Too small'],
      ['steps.other.handlerConfig.siteUrl', 'not this step'],
    ]);
    render(<Harness initial={{}} errors={errorsUnder(issues, ['steps.publish.handlerConfig', 'stepConfig.publish.handlerConfig'])} latest={{ value: {} }} />);
    const siteUrl = screen.getByLabelText('siteUrl (required)');
    expect(siteUrl.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(siteUrl.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Invalid URL');
    expect(screen.getByLabelText('pointer (required)').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('tags, one per line').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('timeoutMs').getAttribute('aria-invalid')).toBe('false');
    expect(screen.queryByText('not this step')).toBeNull();
  });
});
