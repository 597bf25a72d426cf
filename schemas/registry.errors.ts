/**
 * The one catalogue of registry errors, with Confluent's HTTP statuses, error codes and
 * wording, so clients written for Confluent's registry recognise them.
 */
import { TwinlaneError } from '../core/errors.ts';

export interface ConfluentErrorBody {
  error_code: number;
  message: string;
}

export class RegistryError extends TwinlaneError {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(`REGISTRY_${errorCode}`, message, { retriable: status >= 500 });
  }

  body(): ConfluentErrorBody {
    return { error_code: this.errorCode, message: this.message };
  }
}

export const registryErrors = {
  subjectNotFound: (subject: string) => new RegistryError(404, 40401, `Subject '${subject}' not found.`),
  versionNotFound: (subject: string, version: number | string) => new RegistryError(404, 40402, `Version ${version} not found for subject '${subject}'.`),
  schemaNotFound: (detail = 'Schema not found') => new RegistryError(404, 40403, detail),
  subjectSoftDeleted: (subject: string) =>
    new RegistryError(404, 40404, `Subject '${subject}' was soft deleted. Set permanent=true to delete permanently`),
  subjectNotSoftDeleted: (subject: string) =>
    new RegistryError(404, 40405, `Subject '${subject}' was not deleted first before being permanently deleted`),
  versionSoftDeleted: (subject: string, version: number) =>
    new RegistryError(404, 40406, `Subject '${subject}' Version ${version} was soft deleted. Set permanent=true to delete permanently`),
  versionNotSoftDeleted: (subject: string, version: number) =>
    new RegistryError(404, 40407, `Subject '${subject}' Version ${version} was not deleted first before being permanently deleted`),
  subjectConfigNotFound: (subject: string) =>
    new RegistryError(404, 40408, `Subject '${subject}' does not have subject-level compatibility configured`),
  incompatible: (subject: string, details: string[]) =>
    new RegistryError(
      409,
      409,
      `Schema being registered is incompatible with an earlier schema for subject "${subject}", details: [${details.join('; ')}]`,
    ),
  invalidSchema: (detail: string) => new RegistryError(422, 42201, `Invalid schema: ${detail}`),
  invalidVersion: (version: string) =>
    new RegistryError(422, 42202, `The specified version '${version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`),
  invalidCompatibility: (level: unknown) =>
    new RegistryError(422, 42203, `Invalid compatibility level ${JSON.stringify(level)}. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE`),
  badRequest: (detail: string) => new RegistryError(400, 400, detail),
  routeNotFound: (method: string, url: string) => new RegistryError(404, 404, `HTTP 404 Not Found: ${method} ${url}`),
  backendStore: (detail: string) => new RegistryError(500, 50001, `Error in the backend data store: ${detail}`),
  timeout: (detail: string) => new RegistryError(500, 50002, `Operation timed out: ${detail}`),
};
