// The route set of the routing scenarios: ~100 routes, static, templated and a few regexes, in the
// shape of a real API. Each entry: [kind, pattern for this framework, pattern for find-my-way].
export const ROUTES = [];
const resources = [
  'users',
  'orders',
  'items',
  'products',
  'carts',
  'invoices',
  'payments',
  'shipments',
  'reviews',
  'tickets',
  'teams',
  'projects',
  'tasks',
  'comments',
  'files',
  'events',
];
for (const r of resources) {
  ROUTES.push(['static', `/api/${r}`, `/api/${r}`]);
  ROUTES.push(['static', `/api/${r}/search`, `/api/${r}/search`]);
  ROUTES.push(['template', `/api/${r}/{id}`, `/api/${r}/:id`]);
  ROUTES.push(['template', `/api/${r}/{id}/history`, `/api/${r}/:id/history`]);
  ROUTES.push([
    'template',
    `/api/${r}/{id}/comments/{commentId}`,
    `/api/${r}/:id/comments/:commentId`,
  ]);
  ROUTES.push(['static', `/admin/${r}`, `/admin/${r}`]);
}
ROUTES.push([
  'regex',
  /^\/archive\/(?<year>\d{4})\/(?<month>\d{2})$/,
  '/archive/:year(^\\d{4})/:month(^\\d{2})',
]);
ROUTES.push(['regex', /^\/v(?<version>\d+)\/status$/, '/v:version(^\\d+)/status']);
ROUTES.push(['regex', /^\/blog\/(?<slug>[a-z0-9-]+)$/, '/blog/:slug(^[a-z0-9-]+)']);
ROUTES.push(['static', '/', '/']);
ROUTES.push(['static', '/health', '/health']);
ROUTES.push(['static', '/about', '/about']);
ROUTES.push(['static', '/contact', '/contact']);

/** Paths the router benchmark looks up (each hits a route). */
export const LOOKUPS = [
  '/',
  '/api/users',
  '/api/items/12345',
  '/api/orders/77/history',
  '/api/events/9/comments/3',
  '/admin/teams',
  '/api/files/search',
  '/archive/2024/05',
  '/blog/hello-world',
  '/about',
];

/** The JSON scenario's path: a templated route in the middle of the table. */
export const JSON_PATH = '/api/items/12345';
