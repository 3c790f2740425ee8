export { ClickHouseHistory, HistoryLayoutError, aggregateRowFromTsv, eventTsvRow, type ClickHouseHistoryOptions, type ClickHouseNode } from './history.js';
export * as queries from './queries.js';
export { MIGRATIONS, SCHEMA_VERSION, SHARD, SHARDING_KEY, SINGLE_SERVER, baseStatements, distributedStatements, typeEnumStatement, eventMonths, recordVersion, schemaVersion, tableEngine, type Tables } from './schema.js';
export { sqlString, sqlInt, sqlIdent } from './sql.js';
