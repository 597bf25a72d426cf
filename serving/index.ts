/** Public surface of the serving layer. */
export { buildServingApp, type ServingApp, type ServingDeps } from './app.ts';
export { DEFAULT_SERVING_OPTIONS, servingOptions, type ServingOptions } from './options.ts';
export { mergeBreakdown, mergeSeries, mergeTotals, type MergeContext } from './view.merger.ts';
export { MemoryViewReader } from './memory-view.reader.ts';
export type {
  BatchViews,
  BatchSource,
  FunnelQuery,
  FunnelReader,
  FunnelStep,
  FunnelStepResult,
  JobRecord,
  JobsReader,
  SiteDirectory,
  SpeedViews,
  VisitorIdsReader,
  VisitorsUnionReader,
} from './types.ts';
export { openApiDocument } from './openapi.ts';
export { checkSegment } from './segment.check.ts';
export { registerExportRoutes, type ExportPort, type ExportFileFormat } from './export.routes.ts';
