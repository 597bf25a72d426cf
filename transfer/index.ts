/** Public surface of transfer/: imports of history (Umami, our own event files) into the lake, exports of events and views. */
export { runImport, listImports, importIdOf, type ImportDeps, type ImportRequest, type ImportProgress } from './import.runner.ts';
export { EventRecordMapper, IMPORT_FIELDS, importEventId } from './event-record.mapper.ts';
export { NdjsonSource } from './ndjson.source.ts';
export { CsvSource } from './csv.source.ts';
export { ParquetSource } from './parquet.source.ts';
export { UmamiPostgresSource, describeDatabase } from './umami.postgres.source.ts';
export { UmamiDumpSource } from './umami.dump.source.ts';
export { umamiRecord, umamiBrowser, umamiOs, umamiDevice, type UmamiEvent } from './umami.mapper.ts';
export { readImportState, importsDir, type ImportState } from './import.state.ts';
export { liveStarts } from './live-start.ts';
export { ImportSourceError, ImportWriteError, ImportBusyError, ExportError } from './import.errors.ts';
export { transferOptions, type TransferOptions } from './options.ts';
export type * from './types.ts';
export { exportEvents, type EventsExportRequest, type EventsExportDeps } from './events.exporter.ts';
export { exportViews, type ViewsExportRequest } from './views.exporter.ts';
export { ImportLetterRoute, REPLAY_SUFFIX, type ImportLetterRouteDeps } from './import-letter.route.ts';
