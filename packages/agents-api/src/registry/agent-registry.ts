import { AgentsApiError } from '../errors';
import { defineAgent, type AgentDefinition } from './agent-definition';

/**
 * Where a registry is in its life:
 * - `open`: collecting `onInit` callbacks; nothing can be read yet.
 * - `initializing`: `init()` is running the callbacks; registration is open.
 * - `ready`: frozen; reads work, nothing can be added.
 * - `failed`: a callback threw; the registry stays unusable.
 */
export type AgentRegistryStatus = 'open' | 'initializing' | 'ready' | 'failed';

/** Options of a registration or an `onInit` callback. */
export interface AgentRegistrationOptions {
  /**
   * Who registers, for error messages: a module or plugin name, for example.
   * A registration defaults to its callback's source, a callback to
   * `onInit callback #n`.
   */
  readonly source?: string;
}

/** Registers agents; valid only while its `onInit` callback runs. */
export interface AgentRegistrar {
  /**
   * Validates `definition` with {@link defineAgent} and stores it. Throws
   * `agent.invalid_definition` (with `details.source`), `registry.duplicate_agent`
   * for a slug already taken, or `registry.closed` outside the callback.
   */
  register(definition: unknown, options?: AgentRegistrationOptions): AgentDefinition;
}

/** A host's registration step: register agents, synchronously or not, then return. */
export type AgentRegistrationCallback = (registrar: AgentRegistrar) => void | Promise<void>;

/**
 * The agents an application declares, collected once during an init window
 * and frozen after. It holds definitions only: registering an agent creates no
 * database row; a host that wants rows materialises the definitions itself
 * after `init()`.
 */
export interface AgentRegistry extends AgentRegistrar {
  readonly status: AgentRegistryStatus;
  /**
   * As the registrar's `register`, for code that holds the registry rather
   * than the registrar: valid while any `onInit` callback runs, under that
   * callback's source; `registry.closed` at any other time.
   */
  register(definition: unknown, options?: AgentRegistrationOptions): AgentDefinition;
  /**
   * Adds a registration callback, run once by `init()`, in the order added.
   * Throws `registry.closed` once `init()` has been called.
   */
  onInit(callback: AgentRegistrationCallback, options?: AgentRegistrationOptions): void;
  /**
   * Runs every callback once, in order, each awaited before the next, then
   * freezes the registry. Calling it again returns the same promise and runs
   * nothing. If a callback throws, init rejects, the remaining callbacks do
   * not run, and the registry stays unusable (`failed`): with the callback's
   * error when it is an `AgentsApiError` (a refused registration), otherwise
   * with `registry.init_failed` naming the callback's source, its error as `cause`.
   */
  init(): Promise<void>;
  /** The agent with `slug`. Throws `agent.not_found`, or `registry.not_initialized` before init. */
  get(slug: string): AgentDefinition;
  /** The agent with `slug`, or undefined. Throws `registry.not_initialized` before init. */
  find(slug: string): AgentDefinition | undefined;
  /** Whether an agent has `slug`. Throws `registry.not_initialized` before init. */
  has(slug: string): boolean;
  /** Every agent, in registration order. Throws `registry.not_initialized` before init. */
  list(): readonly AgentDefinition[];
}

interface PendingCallback {
  readonly callback: AgentRegistrationCallback;
  readonly source: string;
}

interface RegisteredAgent {
  readonly definition: AgentDefinition;
  readonly source: string;
}

interface RegistryState {
  status: AgentRegistryStatus;
  readonly callbacks: PendingCallback[];
  readonly agents: Map<string, RegisteredAgent>;
  /** The callback running now: the registration window is open only while it is set. */
  running: PendingCallback | undefined;
  initialization: Promise<void> | undefined;
  failure: unknown;
  listed: readonly AgentDefinition[];
}

/**
 * Creates an empty agent registry. The host creates one, passes it to the
 * modules that declare agents, calls `init()` once at startup, and hands the
 * frozen registry to whatever runs agents. There is no default registry.
 *
 * @example
 * const registry = createAgentRegistry();
 * registry.onInit((agents) => {
 *   agents.register({ slug: 'writer', label: 'Writer', instructions: 'You write clearly.' });
 * }, { source: 'blog-module' });
 * await registry.init();
 * registry.get('writer').instructions; // 'You write clearly.'
 */
export function createAgentRegistry(): AgentRegistry {
  const state: RegistryState = {
    status: 'open',
    callbacks: [],
    agents: new Map(),
    running: undefined,
    initialization: undefined,
    failure: undefined,
    listed: [],
  };
  return Object.freeze({
    get status() {
      return state.status;
    },
    onInit: (callback: AgentRegistrationCallback, options?: AgentRegistrationOptions) => addCallback(state, callback, options),
    init: () => startInit(state),
    register: (definition: unknown, options?: AgentRegistrationOptions) => register(state, state.running, definition, options),
    get: (slug: string) => getAgent(state, slug),
    find: (slug: string) => readableAgents(state).get(slug)?.definition,
    has: (slug: string) => readableAgents(state).has(slug),
    list: () => listAgents(state),
  });
}

function addCallback(state: RegistryState, callback: AgentRegistrationCallback, options: AgentRegistrationOptions = {}): void {
  if (state.status !== 'open') {
    throw new AgentsApiError('registry.closed', 'onInit was called after init(): the callback would never run.', {
      details: { status: state.status },
    });
  }
  state.callbacks.push({ callback, source: options.source ?? `onInit callback #${state.callbacks.length + 1}` });
}

function startInit(state: RegistryState): Promise<void> {
  if (state.initialization === undefined) {
    state.status = 'initializing';
    state.initialization = runCallbacks(state);
  }
  return state.initialization;
}

async function runCallbacks(state: RegistryState): Promise<void> {
  // Start the callbacks only once init() has stored this promise, so a
  // callback that calls init() gets it back instead of starting a second run.
  await Promise.resolve();
  try {
    for (const pending of state.callbacks) await runCallback(state, pending);
  } catch (error) {
    fail(state, error);
    throw error;
  }
  state.listed = Object.freeze([...state.agents.values()].map((agent) => agent.definition));
  state.status = 'ready';
}

async function runCallback(state: RegistryState, pending: PendingCallback): Promise<void> {
  const registrar: AgentRegistrar = Object.freeze({
    register: (definition: unknown, options?: AgentRegistrationOptions) => register(state, pending, definition, options),
  });
  state.running = pending;
  try {
    await pending.callback(registrar);
  } catch (error) {
    throw callbackFailed(pending.source, error);
  } finally {
    state.running = undefined;
  }
}

/** A callback's own error, typed; an AgentsApiError (a refused registration) keeps its code. */
function callbackFailed(source: string, error: unknown): AgentsApiError {
  if (AgentsApiError.isInstance(error)) return error;
  return new AgentsApiError('registry.init_failed', `The onInit callback of ${source} failed: ${errorMessage(error)}`, {
    details: { source },
    cause: error,
  });
}

function fail(state: RegistryState, error: unknown): void {
  state.status = 'failed';
  state.failure = error;
  // A half-registered set is worse than none: nothing of it may be read.
  state.agents.clear();
}

function register(
  state: RegistryState,
  registrant: PendingCallback | undefined,
  definition: unknown,
  options: AgentRegistrationOptions = {},
): AgentDefinition {
  // A registrar kept after its callback returned, or used from a timer it
  // started, would register at a time nobody can predict: refuse it.
  if (registrant === undefined || registrant !== state.running) throw registrationClosed(state);
  const source = options.source ?? registrant.source;
  const agent = defineFrom(definition, source);
  const first = state.agents.get(agent.slug);
  if (first !== undefined) throw duplicateAgent(agent.slug, first.source, source);
  state.agents.set(agent.slug, { definition: agent, source });
  return agent;
}

function defineFrom(definition: unknown, source: string): AgentDefinition {
  try {
    return defineAgent(definition);
  } catch (error) {
    if (!AgentsApiError.isInstance(error)) throw error;
    throw new AgentsApiError(error.code, `${error.message} Registered by ${source}.`, {
      details: { ...error.details, source },
      cause: error.cause,
    });
  }
}

function getAgent(state: RegistryState, slug: string): AgentDefinition {
  const agent = readableAgents(state).get(slug);
  if (agent !== undefined) return agent.definition;
  throw new AgentsApiError('agent.not_found', `No agent "${slug}" is registered.`, { details: { slug } });
}

function listAgents(state: RegistryState): readonly AgentDefinition[] {
  readableAgents(state);
  return state.listed;
}

function readableAgents(state: RegistryState): ReadonlyMap<string, RegisteredAgent> {
  if (state.status === 'ready') return state.agents;
  throw notInitialized(state);
}

function registrationClosed(state: RegistryState): AgentsApiError {
  return new AgentsApiError(
    'registry.closed',
    `Agents can be registered only inside an onInit callback, while it runs (the registry is ${state.status}).`,
    { details: { status: state.status } },
  );
}

function duplicateAgent(slug: string, firstSource: string, source: string): AgentsApiError {
  return new AgentsApiError(
    'registry.duplicate_agent',
    `Agent "${slug}" is already registered by ${firstSource}; ${source} cannot register it again.`,
    { details: { slug, firstSource, source } },
  );
}

function notInitialized(state: RegistryState): AgentsApiError {
  const details = { status: state.status };
  if (state.status === 'failed') {
    const message = `The agent registry failed to initialize and cannot be read: ${errorMessage(state.failure)}`;
    return new AgentsApiError('registry.not_initialized', message, { details, cause: state.failure });
  }
  const advice = state.status === 'open' ? 'call init() first' : 'wait for init() to resolve';
  const message = `The agent registry cannot be read before init() resolves: ${advice}.`;
  return new AgentsApiError('registry.not_initialized', message, { details });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
