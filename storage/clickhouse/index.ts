export { ClickHouseHistory, sourceWhere, type ClickHouseHistoryOptions } from './history.js';
export { schemaStatements } from './schema.js';
export { sqlString, sqlInt, sqlIdent } from './sql.js';
