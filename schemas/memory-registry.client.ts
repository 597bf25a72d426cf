/**
 * An in-memory RegistryClient for unit tests and fixtures that do not exercise the registry
 * itself (integration tests of the registry use the real server). Like a Confluent registry,
 * the same schema gets the same id whatever the subject.
 */
import type { AvroSchemaJson } from './event.ts';
import { UnknownSchemaIdError, type RegistryClient } from './event.codec.ts';

export class MemoryRegistryClient implements RegistryClient {
  private readonly byId = new Map<number, AvroSchemaJson>();
  private readonly ids = new Map<string, number>();

  async register(schema: AvroSchemaJson): Promise<number> {
    const key = JSON.stringify(schema);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.byId.size + 1;
      this.ids.set(key, id);
      this.byId.set(id, schema);
    }
    return id;
  }

  async schemaById(id: number): Promise<AvroSchemaJson> {
    const s = this.byId.get(id);
    if (!s) throw new UnknownSchemaIdError(id);
    return s;
  }
}
