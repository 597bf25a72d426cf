/** Public surface of batch/: the lake archiver, the batch job, compaction and the batch-view reader. */
export { LakeArchiver, type ArchiverDeps } from './lake.archiver.ts';
export { runBatch, dirtyDays, dirtyParts, partEnd, lakeDays, type BatchDeps, type DayPart } from './batch.job.ts';
/** A day's lake files (the warehouse step loads them, apps/warehouse-ports.ts). */
export { lakeDay } from './batch.job.ts';
export { compactHour, compactDay, resolveCompactions, type CompactOptions } from './compaction.job.ts';
export { eraseFromLake, lakeFiles, type LakeEraseOptions, type LakeEraseResult } from './lake.erase.ts';
export { lockLakeRewrites, LakeRewriteBusyError } from './lake.lock.ts';
export { BatchReader, BatchSnapshot, type BatchReaderOptions } from './batch.reader.ts';
export { ViewsStore, watermarkOf, BatchLockedError } from './views.store.ts';
export { trimViews, holdToTiers, type TrimViewsOptions, type TrimResult } from './views.retention.ts';
export { monthsTouching, type SiteCalendars } from './month.views.ts';
export { archiverOptions, batchOptions, retentionTiers, ARCHIVER_NODE_ARGS, ARCHIVER_MEMORY_LIMIT, type ArchiverOptions, type BatchOptions } from './options.ts';
export { LAKE_COLUMNS } from './lake.schema.ts';
export { lakePaths, lakeFileName, parseLakeFileName, parseDay, formatDay } from './lake.layout.ts';
export { readProgress, writeProgress, progressDir, type PartitionProgress } from './lake.progress.ts';
export { coveredThrough, lagging, type PartitionCoverage } from './lake.coverage.ts';
export type * from './types.ts';
/** Lake writing for imports of history (transfer/): spool lines → Parquet, placed behind in-flight markers like the archiver's rolls. */
export { LakeWriter, type RolledPartition } from './lake.writer.ts';
export { InflightMarkers } from './lake-recovery.ts';
export { SpoolLineEncoder, writeDecimal } from './spool-line.encoder.ts';
export type { SpoolSegment, ConvertedSegment } from './partition.spool.ts';
export { IMPORT_FILE_PREFIX, isImportFile } from './lake.layout.ts';
export { SPOOL_READ_OPTIONS_SQL, SPOOL_TO_LAKE_SQL, spoolReadLimits, ARCHIVER_PARQUET_OPTIONS } from './lake.schema.ts';
