import type { ModelToolSpec } from '../providers/model-provider';
import { toolInputJsonSchema } from './define-tool';
import type { AnyToolDefinition } from './tool';

/**
 * A tool as the model is told about it: name, description and its `input`
 * schema as JSON Schema (zod's input side, so fields with defaults are
 * optional). Throws `tool.invalid_definition` for an input that is not a
 * JSON Schema object, which only a tool built without `defineTool` can have.
 */
export function toModelToolSpec(tool: AnyToolDefinition): ModelToolSpec {
  return { name: tool.name, description: tool.description, parameters: toolInputJsonSchema(tool) };
}
