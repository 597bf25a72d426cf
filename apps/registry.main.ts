/**
 * Entry point of the bundled schema registry (started by `make stack-up`):
 * reads the REGISTRY_TOPIC log to its end, then serves the Confluent REST API on REGISTRY_PORT.
 */
import { loadConfig } from '../core/config.ts';
import { runRegistry } from './registry.runtime.ts';

await runRegistry(loadConfig());
