/**
 * Public surface of clickhouse/: the connection wrapper, the one SQL quoting function, the
 * warehouse of exact events (schema, lake export, loader) and read-only SQL for people.
 */
export { ClickHouseConnection, type CallOptions, type Settings } from './clickhouse.client.ts';
export { quoteString, quoteIdentifier, qualifiedName, validDay, dayPartition, IDENTIFIER } from './sql.quote.ts';
export { WarehouseError, fromClickHouse, serverMessage, type WarehouseErrorCode } from './warehouse.errors.ts';
export { clickhouseOptions, clusterOptions, warehouseOptions, warehouseEnabled, SQL_DEFAULTS, LOAD_INSERT_SETTINGS, type ClickHouseOptions, type WarehouseOptions, type SqlLimits } from './options.ts';
export { WAREHOUSE_COLUMNS, EVENTS_TABLE, LOADS_TABLE, EVENTS_ORDER_BY, eventsDdl, type WarehouseColumn } from './warehouse.schema.ts';
export { exportDay, type DayExport } from './warehouse.export.ts';
export { WarehouseLoader, ownerOf, type DaySource, type LoadedDay, type DayLoad, type SyncResult, type LoaderDeps } from './warehouse.loader.ts';
export { runReadOnlySql, cleanQuery, readOnlySettings, type SqlResult } from './sql.query.ts';
export { formatResult, formatTable, formatCsv, formatJson, resultSummary, SQL_FORMATS, type SqlFormat } from './sql.format.ts';
export { SQL_EXAMPLES, SQL_FIRST_LOOK, type SqlExample } from './sql.examples.ts';
export { viewsStoreOptions, type ViewsStoreOptions } from './options.ts';
export { ClickHouseViewsReader, ClickHouseSnapshot, readPointer, type ViewVersion, type ViewPointer, type ViewsLocation } from './views.reader.ts';
export { ViewsPublisher, type ViewsSource, type PublisherDeps, type PublishResult, type DirLoad } from './views.publisher.ts';
export { VIEW_DATA_TABLES, viewTable, distributedTable, SHARDING_KEY, shardsOfSitesSql, type ViewDataTable } from './views.schema.ts';
