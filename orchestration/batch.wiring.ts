/** The batch part's ports (batch run, lake compaction, lake and view-version retention, batch view reader). */
import type { ConfigValues } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { ViewReader } from '../core/views.ts';
import type { BatchPort, CompactionPort, RetentionTarget } from './types.ts';

export interface BatchPorts {
  batch?: BatchPort;
  compaction?: CompactionPort;
  reader?: ViewReader;
  retention: RetentionTarget[];
  close(): Promise<void>;
}

export async function batchPorts(_config: ConfigValues, _logger: Logger): Promise<BatchPorts> {
  // The batch job, compaction and view reader are wired here once batch/index.ts exports them.
  return { retention: [], close: async () => undefined };
}
