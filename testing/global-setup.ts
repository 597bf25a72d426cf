/** Starts the local stack when it is not running (idempotent), before integration tests. */
import { loadConfig } from '../core/config.ts';
import { stackUp } from '../stack/index.ts';

export default async function setup(): Promise<void> {
  await stackUp(loadConfig({ ...process.env, LOG_LEVEL: 'warn' }), () => undefined);
}
