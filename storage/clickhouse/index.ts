export { ClickHouseHistory, aggregateRowFromTsv, type ClickHouseHistoryOptions } from './history.js';
export * as queries from './queries.js';
export { MIGRATIONS, SCHEMA_VERSION, baseStatements, typeEnumStatement, eventMonths, recordVersion, schemaVersion } from './schema.js';
export { sqlString, sqlInt, sqlIdent } from './sql.js';
