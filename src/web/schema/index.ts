import { createRequire } from 'node:module';
import type * as TypeBox from '@sinclair/typebox';

export type { Static, TSchema } from '@sinclair/typebox';

/**
 * TypeBox's schema builders (`Type.Object`, `Type.String`, …), from its CommonJS build: the same
 * functions and the same schemas as its ES build (its markers are `Symbol.for` symbols), but
 * loaded as CommonJS its ~260 files cost less of the start-up than as ES modules.
 */
export const Type: typeof TypeBox.Type = (
  createRequire(import.meta.url)('@sinclair/typebox') as typeof TypeBox
).Type;
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
