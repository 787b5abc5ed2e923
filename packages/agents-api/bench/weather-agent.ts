/**
 * What the benches' weather conversations are made of, on both sides: the
 * instructions and question, the `weather` tool, the principal the loop acts
 * as, and the same tool as the `openai` client declares it. The model server
 * that answers them is `weather-model-server.ts`.
 */
import { createPrincipal, defineTool } from '@data-machine/agents-api';
import type OpenAI from 'openai';
import { z } from 'zod';

export const instructions = 'You are a weather assistant.';
export const question = 'What is the weather in Paris?';

export const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => `Sunny in ${city}`,
});

export const principal = createPrincipal({
  userId: 'bench',
  tenantId: null,
  agentSlug: 'weather',
  authSource: 'user',
  requestContext: 'cli',
  tokenId: null,
  ceiling: { allowed: 'unrestricted', denied: [] },
  callerChain: [],
});

/** `weather` as the baseline's `openai` client declares it. */
export const toolsForClient: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'weather', description: 'The weather in a city', parameters: z.toJSONSchema(weather.input) as Record<string, unknown> } },
];
