/** Public surface of speed/: the consumer, the reader, maintenance and rebuild. */
export { SpeedConsumer, type SpeedConsumerDeps } from './events.consumer.ts';
export { SpeedReader, type SpeedReaderDeps } from './speed.reader.ts';
export { SpeedMaintenance, type MaintenanceDeps } from './maintenance.job.ts';
export { SpeedKeys } from './redis.keys.ts';
export { WatermarkCache, NO_WATERMARK } from './watermark.cache.ts';
export { speedOptions, SPEED_DEFAULTS, type SpeedOptions } from './options.ts';
export type { PropertyKeys, RealtimeSnapshot } from './types.ts';
export { RebuildJob, REBUILD_SEEK_GRACE_MS, type RebuildDeps, type RebuildRequest, type RebuildResult } from './rebuild.job.ts';
export { SpeedFormatMarker } from './format.marker.ts';
