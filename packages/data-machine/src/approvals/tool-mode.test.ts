import { describe, expect, it } from 'vitest';
import { resolveToolMode, type ToolModeDecision, type ToolModeRules, type ToolModeSubject } from './tool-mode';

const publish: ToolModeSubject = { name: 'publish_post', category: 'publish', publishes: true };
const search: ToolModeSubject = { name: 'search', category: 'read' };

// Each row: which rules are present, and the decision. Rows go from the weakest rule to the strongest.
const table: readonly (readonly [string, ToolModeSubject, ToolModeRules, ToolModeDecision])[] = [
  ['no rule at all: the global default (direct)', search, { runMode: 'job' }, { mode: 'direct', source: 'global_default' }],
  ['a host global default', search, { runMode: 'job', globalDefault: 'preview' }, { mode: 'preview', source: 'global_default' }],
  ['a job run does not preview a publish tool by preset', publish, { runMode: 'job' }, { mode: 'direct', source: 'global_default' }],
  ['chat previews a publish tool over the global default', publish, { runMode: 'chat', globalDefault: 'direct' }, { mode: 'preview', source: 'mode_preset' }],
  ['chat leaves a non-publishing tool to the global default', search, { runMode: 'chat' }, { mode: 'direct', source: 'global_default' }],
  ['the tool default beats the chat preset', { ...publish, defaultMode: 'direct' }, { runMode: 'chat' }, { mode: 'direct', source: 'tool_default' }],
  ['a category rule beats the tool default', { ...publish, defaultMode: 'direct' }, { runMode: 'job', agent: { categories: { publish: 'preview' } } }, { mode: 'preview', source: 'agent_category' }],
  ['a category rule of another category does not apply', search, { runMode: 'job', agent: { categories: { publish: 'forbidden' } } }, { mode: 'direct', source: 'global_default' }],
  ['a tool rule beats a category rule', publish, { runMode: 'job', agent: { tools: { publish_post: 'direct' }, categories: { publish: 'forbidden' } } }, { mode: 'direct', source: 'agent_tool' }],
  ['a tool rule beats the chat preset', publish, { runMode: 'chat', agent: { tools: { publish_post: 'direct' } } }, { mode: 'direct', source: 'agent_tool' }],
  ['an explicit deny beats a tool rule', publish, { runMode: 'job', deny: ['publish_post'], agent: { tools: { publish_post: 'direct' } } }, { mode: 'forbidden', source: 'deny' }],
  ['a deny of another tool does not apply', publish, { runMode: 'job', deny: ['search'], agent: { tools: { publish_post: 'preview' } } }, { mode: 'preview', source: 'agent_tool' }],
  ['a tool without a category skips category rules', { name: 'x' }, { runMode: 'job', agent: { categories: { publish: 'forbidden' } }, globalDefault: 'preview' }, { mode: 'preview', source: 'global_default' }],
];

describe('tool mode precedence', () => {
  it.each(table)('%s', (_name, tool, rules, expected) => {
    expect(resolveToolMode(tool, rules)).toEqual(expected);
  });
});
