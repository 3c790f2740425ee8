export { ClickHouseHistory, aggregateRowFromTsv, type ClickHouseHistoryOptions } from './history.js';
export * as queries from './queries.js';
export { schemaStatements } from './schema.js';
export { sqlString, sqlInt, sqlIdent } from './sql.js';
