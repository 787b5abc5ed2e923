export { availableBackends, connect, createTestDatabase, probePostgres, testDatabaseUrl } from './database/test-database';
export type { DatabaseBackend, DatabaseTemplate, TestDatabase } from './database/test-database';
export { preparedPgliteDataDir, preparedPgliteDataDirPath, preparePgliteDataDir, unpackPgliteDataDir } from './database/pglite-data-dir';
export { pgliteWasmPath } from './database/pglite-wasm-module';
export { describeEachDatabase } from './database/describe-each-database';
export type { DatabaseSuiteContext } from './database/describe-each-database';
export { startModelServer } from './model-server/model-server';
export type {
  ChatCompletionRequest,
  ModelServer,
  ModelServerOptions,
  ReceivedRequest,
  ReplyHandler,
} from './model-server/model-server';
export { errorReply, textReply, toolCallReply } from './model-server/model-reply';
export type { ModelReply, ScriptedTiming, ScriptedToolCall, ScriptedUsage } from './model-server/model-reply';
export { compareToBaseline } from './bench/compare';
export type { ComparedSide, Comparison, ComparisonResult, MeasuredRun } from './bench/compare';
export { dropDatabaseTemplate, prepareDatabaseTemplate } from './database/database-template';
export type { TemplateMigration } from './database/database-template';
export type { DescribeEachDatabaseOptions } from './database/describe-each-database';
export type { TestDatabaseOptions } from './database/test-database';
export { startHttpFixture } from './http-fixture/http-fixture';
export type { FixtureHandler, FixtureRequest, FixtureResponse, HttpFixture, HttpFixtureOptions } from './http-fixture/http-fixture';
export { feedFixtures } from './feeds/feed-fixtures';
export type { FeedFixtureName } from './feeds/feed-fixtures';
export { startWordPressServer } from './wordpress/wordpress-server';
export type { WordPressFailure, WordPressMedia, WordPressPost, WordPressServer, WordPressServerOptions, WordPressTerm } from './wordpress/wordpress-server';
