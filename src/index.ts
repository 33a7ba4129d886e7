/** The public API: everything a user imports to write their own service. */
export * from './service/index.js';
export * from './web/index.js';
