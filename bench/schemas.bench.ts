/**
 * Avro codec and schema registry figures. Run: `node --import tsx bench/schemas.bench.ts`
 * (needs the stack: `make stack-up`). Prints `bench: <name> = <number>` lines.
 */
import { loadConfig } from '../core/config.ts';
import { benchmarkCodec, benchmarkRegistry, ConfluentRegistryClient } from '../schemas/index.ts';

const config = loadConfig();
const codec = await benchmarkCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), config.EVENTS_TOPIC);
console.log(`bench: avro_encode_per_s = ${Math.round(codec.encodePerS)}`);
console.log(`bench: avro_decode_per_s = ${Math.round(codec.decodePerS)}`);
console.log(`bench: avro_bytes_per_event = ${Math.round(codec.bytesPerEvent)}`);
const registry = await benchmarkRegistry(config.SCHEMA_REGISTRY_URL);
console.log(`bench: registry_register_per_s = ${Math.round(registry.registerPerS)}`);
console.log(`bench: registry_lookup_per_s = ${Math.round(registry.lookupPerS)}`);
console.log(`bench: registry_lookup_p99_ms = ${registry.lookupP99Ms.toFixed(2)}`);
