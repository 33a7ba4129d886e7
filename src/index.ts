/** The public API: everything a user imports to write their own service. */
export * from './web/index.js';
