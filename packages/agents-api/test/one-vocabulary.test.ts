import { describe, expect, expectTypeOf, it } from 'vitest';
import { agentsApiErrorCodes } from '../src/errors';
import type {
  BudgetName,
  ConversationEvent,
  ConversationStatus,
  MessageRole,
  MessageType,
  ModelFinishReason,
  ModelStreamEvent,
  RunStatus,
  ToolExclusionReason,
  ToolExecution,
} from '../src/index';

/** The members of a string union that are not snake_case; `never` when all are. */
type NotSnakeCase<Value extends string> = Value extends `${string}-${string}` | `${string} ${string}` ? Value : Value extends Lowercase<Value> ? never : Value;

// One spelling for one vocabulary (docs/decisions/2026-11-30-one-vocabulary.md): every
// string value the package defines is snake_case, so the word for one thing (the
// `approval_required` status, message type and event) is spelled one way.
describe('the package vocabulary', () => {
  it('spells event types, message types, statuses, budgets, reasons and outcomes in snake_case', () => {
    expectTypeOf<NotSnakeCase<ConversationEvent['type']>>().toBeNever();
    expectTypeOf<NotSnakeCase<ModelStreamEvent['type']>>().toBeNever();
    expectTypeOf<NotSnakeCase<MessageType>>().toBeNever();
    expectTypeOf<NotSnakeCase<MessageRole>>().toBeNever();
    expectTypeOf<NotSnakeCase<ConversationStatus>>().toBeNever();
    expectTypeOf<NotSnakeCase<RunStatus>>().toBeNever();
    expectTypeOf<NotSnakeCase<BudgetName>>().toBeNever();
    expectTypeOf<NotSnakeCase<ToolExclusionReason>>().toBeNever();
    expectTypeOf<NotSnakeCase<ModelFinishReason>>().toBeNever();
    expectTypeOf<NotSnakeCase<ToolExecution['outcome']>>().toBeNever();
  });

  it('uses the same word for the approval_required status, message type and event', () => {
    expectTypeOf<'approval_required'>().toExtend<ConversationStatus & MessageType & ConversationEvent['type']>();
    expectTypeOf<'tool_call'>().toExtend<MessageType & ConversationEvent['type']>();
    expectTypeOf<'tool_result'>().toExtend<MessageType & ConversationEvent['type']>();
  });

  it('tells a kebab-case name from a snake_case one', () => {
    expectTypeOf<NotSnakeCase<'text_delta' | 'text-delta' | 'Text'>>().toEqualTypeOf<'text-delta' | 'Text'>();
  });

  it('spells every error code as area.snake_case', () => {
    expect(agentsApiErrorCodes.filter((code) => !/^[a-z]+\.[a-z][a-z_]*$/.test(code))).toEqual([]);
  });
});
