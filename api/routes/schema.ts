import type { FastifyInstance } from 'fastify';
import { EVENT_JSON_SCHEMA } from '../../core/index.js';

const body = JSON.stringify(EVENT_JSON_SCHEMA, null, 2);

/**
 * `GET /schema/event.json`: the JSON Schema of the event (core/event-schema.ts). Public, outside
 * `/v1` like `/docs/json`: it is the contract producers validate against, no data of anyone.
 */
export function schemaRoutes(app: FastifyInstance): void {
  app.get('/schema/event.json', {
    schema: {
      operationId: 'eventSchema',
      summary: 'The JSON Schema (draft 2020-12) of an interaction event, as producers publish it',
      tags: ['ingest'],
      security: [],
      response: {
        200: {
          description: 'The event JSON Schema',
          content: { 'application/schema+json': { schema: { type: 'object', additionalProperties: true } } },
        },
      },
    },
  }, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    reply.type('application/schema+json');
    return body;
  });
}
