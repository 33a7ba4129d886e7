import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type busboy from 'busboy';
import type { Arguments } from './arguments.js';
import { HttpError } from './errors.js';

/** A file uploaded in a `multipart/form-data` body. */
export interface UploadedFile {
  /** The name the client gave (its last path segment only); `''` when it gave none. */
  readonly filename: string;
  /** The part's `Content-Type` (`application/octet-stream` when the client gave none). */
  readonly contentType: string;
  /** The file's bytes. */
  readonly body: Buffer;
}

/** Uploaded files by form field name (no prototype), in the order they came. */
export type Files = Record<string, UploadedFile[]>;

/** Limits on a `multipart/form-data` body (the `multipart` application setting). */
export interface MultipartLimits {
  /** Most parts (fields and files together); more is a 400. Default 1000. */
  maxParts?: number;
  /** Most non-file fields; more is a 400. Default 1000. */
  maxFields?: number;
  /** Most files; more is a 400. Default 100. */
  maxFiles?: number;
  /** Largest file, in bytes; more is a 413. Default: no limit but the body's own. */
  maxFileBytes?: number;
  /** Largest field value, in bytes; more is a 413. Default 64 KiB. */
  maxFieldBytes?: number;
}

/** The parsed form: field values as arguments, and the files. */
export interface MultipartForm {
  readonly fields: Arguments;
  readonly files: Files;
}

/** Every multipart limit, defaults filled in. */
export function resolveMultipartLimits(limits: MultipartLimits = {}): Required<MultipartLimits> {
  const resolved = {
    maxParts: limits.maxParts ?? 1000,
    maxFields: limits.maxFields ?? 1000,
    maxFiles: limits.maxFiles ?? 100,
    maxFileBytes: limits.maxFileBytes ?? Number.MAX_SAFE_INTEGER,
    maxFieldBytes: limits.maxFieldBytes ?? 64 * 1024,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`multipart.${name} must be a non-negative integer, got ${value}`);
    }
  }
  return Object.freeze(resolved);
}

/** Whether a `Content-Type` is `multipart/form-data`. */
export function isMultipart(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*multipart\/form-data\s*(?:;|$)/i.test(contentType);
}

/** busboy, loaded on the first multipart body (most services never parse one). */
let busboyFactory: typeof busboy | undefined;

function loadBusboy(): typeof busboy {
  busboyFactory ??= createRequire(import.meta.url)('busboy') as typeof busboy;
  return busboyFactory;
}

/**
 * Parses a buffered `multipart/form-data` body with busboy. A missing boundary or a malformed or
 * truncated body is a 400; more parts, fields or files than allowed is a 400; a file or field
 * over its size limit is a 413. Text fields are decoded as UTF-8, and so are file names.
 */
export function parseMultipart(
  body: Buffer,
  headers: IncomingHttpHeaders,
  limits: Required<MultipartLimits>,
): Promise<MultipartForm> {
  let parser: busboy.Busboy;
  try {
    parser = loadBusboy()({
      headers,
      defCharset: 'utf8',
      defParamCharset: 'utf8',
      limits: {
        parts: limits.maxParts,
        fields: limits.maxFields,
        files: limits.maxFiles,
        fileSize: limits.maxFileBytes,
        fieldSize: limits.maxFieldBytes,
      },
    });
  } catch (error) {
    return Promise.reject(
      new HttpError(400, `bad multipart body: ${messageOf(error)}`, {
        code: 'ERR_INVALID_MULTIPART',
      }),
    );
  }
  const fields: Arguments = Object.create(null);
  const files: Files = Object.create(null);
  let failure: HttpError | undefined;
  const fail = (error: HttpError): void => {
    failure ??= error;
  };
  return new Promise<MultipartForm>((resolve, reject) => {
    parser.on('field', (name, value, info) => {
      if (info.nameTruncated)
        fail(
          new HttpError(400, 'multipart field name too long', { code: 'ERR_INVALID_MULTIPART' }),
        );
      if (info.valueTruncated) {
        fail(
          new HttpError(413, `field ${name} is longer than ${limits.maxFieldBytes} bytes`, {
            code: 'ERR_BODY_TOO_LARGE',
          }),
        );
      }
      const values = fields[name];
      if (values === undefined) fields[name] = [value];
      else values.push(value);
    });
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        fail(
          new HttpError(413, `file ${name} is larger than ${limits.maxFileBytes} bytes`, {
            code: 'ERR_BODY_TOO_LARGE',
          }),
        );
      });
      stream.on('error', (error) => fail(badBody(error)));
      stream.on('end', () => {
        const file = {
          filename: info.filename ?? '',
          contentType: info.mimeType,
          body: Buffer.concat(chunks),
        };
        const list = files[name];
        if (list === undefined) files[name] = [file];
        else list.push(file);
      });
    });
    parser.on('partsLimit', () => fail(tooMany('parts', limits.maxParts)));
    parser.on('fieldsLimit', () => fail(tooMany('fields', limits.maxFields)));
    parser.on('filesLimit', () => fail(tooMany('files', limits.maxFiles)));
    parser.on('error', (error) => reject(failure ?? badBody(error)));
    parser.on('close', () => {
      if (failure === undefined) resolve({ fields, files });
      else reject(failure);
    });
    parser.end(body);
  });
}

function tooMany(what: string, limit: number): HttpError {
  return new HttpError(400, `multipart body has more than ${limit} ${what}`, {
    code: 'ERR_INVALID_MULTIPART',
  });
}

function badBody(error: unknown): HttpError {
  return new HttpError(400, `bad multipart body: ${messageOf(error)}`, {
    cause: error,
    code: 'ERR_INVALID_MULTIPART',
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
