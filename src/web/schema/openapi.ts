import type { TSchema } from '@sinclair/typebox';
import type { RouteEntry, RouteSpec } from '../application.js';
import type { HandlerClass } from '../handler.js';
import { Router } from '../routing.js';
import type { HandlerSchemas, RouteSchema } from './define.js';

/** The document's `info` (take it from `package.json`). */
export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = Record<string, unknown>;

const VERBS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const PROBLEM = { $ref: '#/components/schemas/Problem' };
const PROBLEM_CONTENT = { 'application/problem+json': { schema: PROBLEM } };

/** The errors the framework itself answers with, as RFC 9457 problem details. */
const FRAMEWORK_RESPONSES: Record<string, { description: string }> = {
  BadRequest: {
    description: 'Malformed request: path, query or headers that do not fit, or malformed JSON',
  },
  NotFound: { description: 'No such resource' },
  MethodNotAllowed: { description: 'The path exists with other methods (see `Allow`)' },
  ContentTooLarge: { description: 'The body is larger than the limit' },
  UnsupportedMediaType: { description: 'The body is not JSON' },
  UnprocessableContent: { description: 'Well-formed JSON that does not fit the schema' },
};

const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      maxItems: 10,
      items: {
        type: 'object',
        properties: {
          pointer: { type: 'string', description: 'JSON Pointer into the request: /body/text' },
          detail: { type: 'string' },
        },
        required: ['pointer', 'detail'],
      },
    },
  },
  required: ['type', 'title', 'status'],
};

/** A JSON copy of a TypeBox schema: no symbols, nothing the document cannot carry. */
function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

function errorRef(name: string): { $ref: string } {
  return { $ref: `#/components/responses/${name}` };
}

function parameters(schema: RouteSchema, pathNames: readonly string[]): unknown[] {
  const result: unknown[] = [];
  const declared = (schema.params?.properties ?? {}) as Record<string, TSchema>;
  for (const name of pathNames) {
    const property = declared[name];
    const described = property === undefined ? { type: 'string' } : plain(property);
    result.push({ name, in: 'path', required: true, schema: described });
  }
  for (const [where, object] of [
    ['query', schema.query],
    ['header', schema.headers],
  ] as const) {
    if (object === undefined) continue;
    const required = new Set(object.required ?? []);
    for (const [name, property] of Object.entries(object.properties as Record<string, TSchema>)) {
      const entry: Record<string, unknown> = { name, in: where, schema: plain(property) };
      if (required.has(name) && (property as { default?: unknown }).default === undefined) {
        entry.required = true;
      }
      if (property.type === 'array') entry.explode = true;
      result.push(entry);
    }
  }
  return result;
}

function responses(schema: RouteSchema, hasPathParams: boolean): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [status, body] of Object.entries(schema.responses ?? {})) {
    const description = (body as { description?: string }).description ?? `${status} response`;
    result[status] =
      body.type === 'null' || status === '204' || status === '304'
        ? { description }
        : { description, content: { 'application/json': { schema: plain(body) } } };
  }
  if (Object.keys(result).length === 0) {
    result.default = { description: 'The handler answers; its responses are not declared' };
  }
  if (schema.params || schema.query || schema.headers || schema.body) {
    result['400'] = errorRef('BadRequest');
  }
  if (hasPathParams) result['404'] = errorRef('NotFound');
  result['405'] = errorRef('MethodNotAllowed');
  if (schema.body !== undefined) {
    result['413'] = errorRef('ContentTooLarge');
    result['415'] = errorRef('UnsupportedMediaType');
    result['422'] = errorRef('UnprocessableContent');
  }
  return result;
}

/** `/users/{id:\d+}` and `/static/{path*}` → `/users/{id}`, `/static/{path}`. */
function openApiPath(template: string): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)(?:\*|:[^}]*)?\}/g, '{$1}');
}

/**
 * Builds the OpenAPI 3.1 document of a route table: one path per template (routes given as regular
 * expressions are left out: they have no template), one operation per verb the handler class
 * defines, with the parameters, body and responses its `static schema` declares (or what is known
 * without one: the path parameters as strings), and the problem+json errors the framework answers
 * with. Operation ids are `ClassName.verb`; the tag is the class name unless the schema names
 * others. Call it once at start-up.
 */
export function openApiDocument(routes: readonly RouteEntry[], info: OpenApiInfo): OpenApiDocument {
  const router = new Router<HandlerClass<unknown>>();
  for (const entry of routes) {
    const spec: RouteSpec = Array.isArray(entry)
      ? { pattern: entry[0], handler: entry[1], options: entry[2], name: undefined }
      : (entry as RouteSpec);
    if (typeof spec.pattern === 'string') router.add(spec.pattern, spec.handler);
  }
  const paths: Record<string, Record<string, unknown>> = {};
  const ids = new Set<string>();
  for (const route of router.all) {
    const klass = route.target;
    const declared = (klass as unknown as { schema?: HandlerSchemas }).schema ?? {};
    const proto = klass.prototype as unknown as Record<string, unknown>;
    const path = openApiPath(route.pattern);
    const item: Record<string, unknown> = paths[path] ?? {};
    for (const verb of VERBS) {
      if (typeof proto[verb] !== 'function' || item[verb] !== undefined) continue;
      const schema: RouteSchema = declared[verb] ?? {};
      let id = `${klass.name}.${verb}`;
      for (let n = 2; ids.has(id); n++) id = `${klass.name}.${verb}${n}`;
      ids.add(id);
      const operation: Record<string, unknown> = {
        operationId: id,
        tags: schema.tags ?? [klass.name],
      };
      if (schema.summary !== undefined) operation.summary = schema.summary;
      if (schema.description !== undefined) operation.description = schema.description;
      const params = parameters(schema, route.paramNames);
      if (params.length > 0) operation.parameters = params;
      if (schema.body !== undefined) {
        operation.requestBody = {
          required: true,
          content: { 'application/json': { schema: plain(schema.body) } },
        };
      }
      operation.responses = responses(schema, route.paramNames.length > 0);
      item[verb] = operation;
    }
    if (Object.keys(item).length > 0) paths[path] = item;
  }
  const componentResponses: Record<string, unknown> = {};
  for (const [name, { description }] of Object.entries(FRAMEWORK_RESPONSES)) {
    componentResponses[name] = { description, content: PROBLEM_CONTENT };
  }
  return {
    openapi: '3.1.0',
    info: { ...info },
    paths,
    components: { schemas: { Problem: PROBLEM_SCHEMA }, responses: componentResponses },
  };
}
