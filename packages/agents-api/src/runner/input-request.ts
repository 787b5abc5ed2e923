const marker = Symbol.for('@data-machine/agents-api/input-request');

/** What a tool returns to stop the run and ask the user something. */
export interface InputRequest {
  readonly [marker]: true;
  readonly question: string;
}

/**
 * Returned from a tool's executor, ends the run as `input_required` with
 * `question`; the user's answer comes as the next run's new message.
 *
 * @example
 * execute: ({ city }) => (city ? lookup(city) : requestInput('Which city do you mean?'))
 */
export function requestInput(question: string): InputRequest {
  return { [marker]: true, question };
}

/** Whether a tool's output is an {@link InputRequest}. */
export function isInputRequest(value: unknown): value is InputRequest {
  return typeof value === 'object' && value !== null && (value as { [marker]?: unknown })[marker] === true;
}
