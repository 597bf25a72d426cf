/** Public surface of schemas/: the event record, its codec and wire format, and the schema registry. */
export * from './event.ts';
export * from './wire-format.ts';
export {
  AvroDecodeError,
  ConfluentRegistryClient,
  EventCodec,
  SchemaViolationError,
  UnknownSchemaIdError,
  type DecodedEvent,
  type RegistryClient,
} from './event.codec.ts';
export * from './types.ts';
export { RegistryError, registryErrors, type ConfluentErrorBody } from './registry.errors.ts';
export { compatibilityProblems, type ExistingVersion } from './compatibility.ts';
export { parseSchema, type ParsedSchema } from './avro-schema.ts';
export { RegistryState } from './registry.state.ts';
export { KafkaRegistryStore, MemoryRegistryStore, type KafkaRegistryStoreDeps, type RegistryStore } from './registry.store.ts';
export { buildRegistryApp, REGISTRY_CONTENT_TYPE, type RegistryAppDeps } from './registry.app.ts';
export { RegistryServer, type RegistryServerDeps } from './registry.server.ts';
export { benchmarkCodec, benchmarkRegistry, sampleEvents, type CodecFigures, type RegistryFigures } from './codec.benchmark.ts';
export { driftError, schemaDriftPaths } from './schema-drift.ts';
export { MemoryRegistryClient } from './memory-registry.client.ts';
export { WriterSchemaCache } from './writer-schema.cache.ts';
