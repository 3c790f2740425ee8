/**
 * The layout's floors, checked by `npm test` (test/run.ts runs depcruise with this file; `npm run layout`):
 *
 *   composition root   main.ts, runtime.ts, config.ts,      (nothing below imports them)
 *                      supervisor.ts, metrics.ts (prom-client, implementing core's Metrics port)
 *   api/               HTTP                                 -> core, the services but ingest
 *   engine/<service>/  services: ingest, tiers, filters,    -> core, another service's face,
 *                      erasures, notices, lookup               storage/nats/names.ts and errors.ts (ingest speaks JetStream)
 *   storage/redis|clickhouse|nats          adapters         -> core
 *   core/                                  the domain       -> nothing of ours
 *   client/                                typed HTTP client -> nothing of ours (generated types, openapi-fetch)
 *   producer/                              producer library  -> core, storage/nats/names.ts, engine/ingest/jetstream.ts
 *                                                                and publisher.ts (the stream set-up and the JetStream
 *                                                                publisher, leaves but for each other, core and
 *                                                                storage/nats/names.ts and errors.ts)
 *
 * Rooms: core/, api/, client/, producer/, and each folder of engine/ and of storage/.
 * Product code only: test/, bench/, scripts/ and console/ (browser code) may reach anywhere.
 */
const product = '^(core|engine|storage|api|producer)/|^(main|runtime|config|supervisor|metrics)\\.ts$';
/** One room each: a folder of engine/ or storage/ is a room of its own. */
const room = 'core|engine/[^/]+|storage/[^/]+|api|producer';
/**
 * Every NATS name (streams, subjects, buckets) is built in one file, and NATS errors are told
 * apart by their codes in another; both import nothing, and the ingest service, which speaks
 * JetStream itself, takes them without the rest of the adapter.
 */
const natsNames = '^storage/nats/(names|errors)\\.ts$';
/**
 * The events streams' set-up and the JetStream publisher (the HTTP ingestion routes' event sink
 * publishes with it), which the producer library shares with the engine.
 */
const streamSetup = '^engine/ingest/(jetstream|publisher)\\.ts$';

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
      name: 'stream-setup-is-a-leaf',
      severity: 'error',
      comment: 'engine/ingest/jetstream.ts and publisher.ts, which the producer library takes too, import only each other, the domain and the NATS names and errors: a producer never loads the engine.',
      from: { path: streamSetup },
      to: { path: product, pathNot: [natsNames, streamSetup, '^core/'] },
    },
    {
      name: 'producer-takes-the-contract',
      severity: 'error',
      comment: 'The producer library (shipped apart, dist/producer) takes the domain (the validator, the schema), the NATS names, the stream set-up and the JetStream publisher: nothing else of ours.',
      from: { path: '^producer/' },
      to: { path: product, pathNot: ['^producer/', '^core/index\\.ts$', '^core/', natsNames, streamSetup] },
    },
    {
      name: 'nothing-imports-the-producer',
      severity: 'error',
      comment: 'The library is for other projects (and scripts/): product code does not use it.',
      from: { path: product, pathNot: '^producer/' },
      to: { path: '^producer/' },
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
      comment: 'A service (a folder of engine/) depends on the domain room (metrics through its port there) and on other services through their faces (see through-the-public-face), never on storage, the API or the root.',
      from: { path: '^(engine/[^/]+)/' },
      to: { path: product, pathNot: ['^core/', '^engine/', natsNames] },
    },
    {
      name: 'api-takes-services',
      severity: 'error',
      comment: 'The API calls services through their ports; it does not reach into storage, the ingest engine or the root.',
      from: { path: '^api/' },
      to: { path: '^(engine/ingest|storage)/|^(main|runtime|config|supervisor|metrics)\\.ts$' },
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
      from: { path: '^(core|engine|storage|api|producer)/' },
      to: { path: '^(main|runtime|config|supervisor|metrics)\\.ts$' },
    },
    {
      name: 'through-the-public-face',
      severity: 'error',
      comment: 'Another room is entered through its index.ts. The root is not held to it: config.ts takes api/auth.ts itself, since api/index.ts would load Fastify in the engine role.',
      from: { path: `^(${room})/`, pathNot: '^producer/' },
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
