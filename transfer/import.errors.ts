/** Errors of imports and exports: each says whether trying again can help. */
import { TwinlaneError } from '../core/errors.ts';

/** The source could not be read: a database away may come back (retriable); a file that is not what it claims will not. */
export class ImportSourceError extends TwinlaneError {
  constructor(message: string, retriable: boolean, cause?: unknown) {
    super('IMPORT_SOURCE_FAILED', message, { retriable, cause });
  }
}

/** Writing the lake or the dead letters failed: the import stops at its last checkpoint; run it again to resume. */
export class ImportWriteError extends TwinlaneError {
  constructor(message: string, cause?: unknown) {
    super('IMPORT_WRITE_FAILED', `${message}; run the same import again to resume from its last checkpoint`, { retriable: true, cause });
  }
}

/** Another run of the same import holds its lock. */
export class ImportBusyError extends TwinlaneError {
  constructor(id: string, path: string) {
    super('IMPORT_LOCKED', `import ${id} is running in another process (${path}); wait for it, or let it finish`, { retriable: true });
  }
}

/** An export could not be written or read. */
export class ExportError extends TwinlaneError {
  constructor(code: string, message: string, retriable: boolean, cause?: unknown) {
    super(code, message, { retriable, cause });
  }
}
