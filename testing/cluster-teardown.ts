/**
 * Global set-up of the faults-cluster project: nothing at start (the test file starts the cluster
 * stack when its turn comes, see vitest.config.ts); afterwards the cluster stack is stopped, also
 * when the test failed before its own clean-up.
 */
import { loadConfig } from '../core/config.ts';
import { clusterDown } from '../stack/index.ts';

export default function setup(): () => Promise<void> {
  return async () => {
    await clusterDown(loadConfig({ ...process.env, STACK: 'cluster', LOG_LEVEL: 'warn' }), () => undefined);
  };
}
