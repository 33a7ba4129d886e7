export type { Static, TSchema } from '@sinclair/typebox';
export { ApiHandler } from './api-handler.js';
export {
  type CompiledSchema,
  compileSchema,
  MAX_REPORTED_ERRORS,
  type ValidationFailure,
} from './compile.js';
export {
  type HandlerSchemas,
  type ResponseStatus,
  type ResponseValue,
  type RouteInput,
  type RouteSchema,
  route,
} from './define.js';
export { type OpenApiDocument, type OpenApiInfo, openApiDocument } from './openapi.js';
export { validateBody } from './validate.js';
export { Type } from './vendor.js';
