/**
 * The layout's floors, checked by `npm test` (test/run.ts runs depcruise with this file; `npm run layout`):
 *
 *   composition root   main.ts, runtime.ts, config.ts, supervisor.ts   (nothing below imports them)
 *   api/               HTTP                                 -> core, the services but ingest, telemetry
 *   engine/<service>/  services: ingest, tiers, filters,    -> core, telemetry, another service's face,
 *                      erasures, notices, lookup               storage/nats/names.ts (ingest speaks JetStream)
 *   storage/redis|clickhouse|nats          adapters         -> core
 *   telemetry/                             metrics          -> nothing of ours
 *   core/                                  the domain       -> nothing of ours
 *   client/                                typed HTTP client -> nothing of ours (generated types, openapi-fetch)
 *
 * Rooms: core/, telemetry/, api/, client/, and each folder of engine/ and of storage/.
 * Product code only: test/, bench/, scripts/ and console/ (browser code) may reach anywhere.
 */
const product = '^(core|engine|telemetry|storage|api)/|^(main|runtime|config|supervisor)\\.ts$';
/** One room each: a folder of engine/ or storage/ is a room of its own. */
const room = 'core|engine/[^/]+|telemetry|storage/[^/]+|api';
/**
 * Every NATS name (streams, subjects, buckets) is built in this one file, which imports nothing;
 * the ingest service, which speaks JetStream itself, takes it without the rest of the adapter.
 */
const natsNames = '^storage/nats/names\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Imports run one way. Type-only cycles are allowed (they vanish at run time).',
      from: { path: product },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'core-is-pure',
      severity: 'error',
      comment: 'The domain room imports nothing of ours.',
      from: { path: '^core/' },
      to: { path: product, pathNot: '^core/' },
    },
    {
      name: 'telemetry-is-a-leaf',
      severity: 'error',
      from: { path: '^telemetry/' },
      to: { path: product, pathNot: '^telemetry/' },
    },
    {
      name: 'storage-takes-only-the-domain',
      severity: 'error',
      comment: 'Adapters implement the ports of core/; they know neither the services, the API nor the root.',
      from: { path: '^storage/' },
      to: { path: product, pathNot: '^(storage|core)/' },
    },
    {
      name: 'nats-names-are-a-leaf',
      severity: 'error',
      comment: 'storage/nats/names.ts, which the ingest service takes too, imports nothing of ours.',
      from: { path: natsNames },
      to: { path: product },
    },
    {
      name: 'one-adapter-does-not-use-another',
      severity: 'error',
      from: { path: '^storage/([^/]+)/' },
      to: { path: '^storage/', pathNot: ['^storage/$1/', '^storage/index\\.ts$'] },
    },
    {
      name: 'services-take-the-domain',
      severity: 'error',
      comment: 'A service (a folder of engine/) depends on the domain room (and metrics) and on other services through their faces (see through-the-public-face), never on storage, the API or the root.',
      from: { path: '^(engine/[^/]+)/' },
      to: { path: product, pathNot: ['^core/', '^telemetry/', '^engine/', natsNames] },
    },
    {
      name: 'api-takes-services',
      severity: 'error',
      comment: 'The API calls services through their ports; it does not reach into storage, the ingest engine or the root.',
      from: { path: '^api/' },
      to: { path: '^(engine/ingest|storage)/|^(main|runtime|config|supervisor)\\.ts$' },
    },
    {
      name: 'client-stands-alone',
      severity: 'error',
      comment: 'The typed client knows the API by its OpenAPI document only (client/openapi.ts), never by its code.',
      from: { path: '^client/' },
      to: { path: product },
    },
    {
      name: 'nothing-imports-main',
      severity: 'error',
      from: {},
      to: { path: '^main\\.ts$' },
    },
    {
      name: 'root-only-from-the-root',
      severity: 'error',
      from: { path: '^(core|engine|telemetry|storage|api)/' },
      to: { path: '^(main|runtime|config|supervisor)\\.ts$' },
    },
    {
      name: 'through-the-public-face',
      severity: 'error',
      comment: 'Another room is entered through its index.ts. The root is not held to it: config.ts takes api/auth.ts itself, since api/index.ts would load Fastify in the engine role.',
      from: { path: `^(${room})/` },
      to: {
        path: `^(${room})/`,
        pathNot: ['^$1/', `^(${room})/index\\.ts$`, natsNames],
      },
    },
    {
      name: 'engine-role-loads-no-http',
      severity: 'error',
      comment: 'runtime.ts loads the API (and Fastify) only with a dynamic import, for the roles that serve HTTP.',
      from: { path: '^(runtime|config)\\.ts$' },
      to: { path: '^api/(index|app)\\.ts$|node_modules/fastify/', dependencyTypesNot: ['dynamic-import', 'type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(test|bench|scripts|console|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: {
      dot: { collapsePattern: `^(${room})/` },
      text: { highlightFocused: true },
    },
  },
};
