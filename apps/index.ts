/**
 * The runtimes the entry points are built from, for tests and benchmarks that run what production
 * runs. Entry points (`*.main.ts`) and CLI command groups (`cli/`) are not exported: they are run.
 */
export { createCollectorFromConfig, type CollectorOverrides } from './collector.runtime.ts';
export { createSpeedRuntime, type SpeedRuntime } from './speed.runtime.ts';
export { createServingRuntime, batchSource, jobsReader, type ServingRuntime } from './serving.runtime.ts';
export { ServingHttpService } from './serving.main.ts';
export { buildJobPorts, dlqRetention, type JobPorts } from './job-ports.ts';
export { batchPorts, LakeIncompleteError, type BatchPorts } from './batch-ports.ts';
export { warehousePorts, batchVersionDays, type WarehousePorts, type WarehouseOverrides } from './warehouse-ports.ts';
export { viewsPublishPorts, viewsSource, clickhouseViewsReader, type ViewsPublishPorts, type ViewsPublishOverrides } from './views-ports.ts';
export { createScheduler, type BuiltScheduler } from './scheduler.factory.ts';
export { replayWith, runReplay, loadTransform, type ReplayWiring } from './replay.runtime.ts';
export { runRegistry } from './registry.runtime.ts';
export { answersHttp, pipelineServices, ServiceSupervisor, type ServiceSpec, type ServiceStatus } from './pipeline/services.supervisor.ts';
export { importHistory, type ImportCommandDeps, type ImportOutcome } from './import.ts';
