import type { FastifyInstance } from 'fastify';
import { formatTime } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { answer, filterSchema, idParams, plainJson, ref } from '../schemas.js';

/** Active retargeting filters: they pin the sources they name. */
export function filterRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.put<{ Params: { id: string }; Body: { filter: unknown } }>(
    '/v1/filters/:id',
    {
      config: { scope: 'admin', errors: ['invalid_filter', 'source_not_found', 'too_many_filters'] },
      schema: {
        operationId: 'putFilter',
        summary: 'Register (or replace) an active retargeting filter',
        description: 'It pins the sources it names, and those its tag leaves stand for (sources gaining the tag later included); expired ones are restored. A source named by id must exist (404 source_not_found with `sources`: declare it with PUT /v1/campaigns/:id first); a tag no source carries stands for no source.',
        tags: ['filters'],
        params: idParams,
        response: {
          200: answer('the sources it stands for now, and those being restored', {
            type: 'object',
            required: ['id', 'sources', 'restoring'],
            properties: { id: { type: 'string' }, sources: { type: 'array', items: { type: 'string' } }, restoring: { type: 'array', items: { type: 'string' } } },
          }),
        },
        // The filter's own grammar is checked by parseFilter, which names the bad node's path.
        body: {
          type: 'object', additionalProperties: false, required: ['filter'], properties: { filter: filterSchema },
          examples: [{ filter: { or: [{ campaign: 'spring-sale', event: 'open', within: 'P30D' }, { tag: 'spring', kind: 'campaign', event: 'click' }] } }],
        },
      },
    },
    async (req) => deps.filters.put(req.params.id, req.body.filter),
  );

  app.delete<{ Params: { id: string } }>('/v1/filters/:id', {
    config: { scope: 'admin' },
    schema: {
      operationId: 'deleteFilter',
      summary: 'Remove a registered filter, unpinning its sources',
      description: 'Idempotent: removing a filter that is not registered is a 204 too.',
      tags: ['filters'],
      params: idParams,
      response: { 204: answer('removed', null) },
    },
  }, async (req, reply) => {
    // Idempotent: deleting a filter that is not there is not an error.
    await deps.filters.delete(req.params.id);
    return reply.status(204).send();
  });

  const shape = (d: { id: string; filter: unknown; sources: string[]; updatedAt: number }) => ({
    id: d.id, filter: d.filter, sources: d.sources, updatedAt: formatTime(d.updatedAt),
  });

  // The filter is answered as registered, by JSON.stringify: fast-json-stringify would pick a
  // branch of the recursive Filter's oneOf per node (ajv at every answer) and drop what a
  // branch does not name; the schema documents the answer.
  app.get('/v1/filters', {
    config: { scope: 'lookup' },
    serializerCompiler: plainJson,
    schema: {
      operationId: 'listFilters',
      summary: 'Every registered filter',
      tags: ['filters'],
      response: { 200: answer('the registered filters', { type: 'object', required: ['items'], properties: { items: { type: 'array', items: ref.filterDoc } } }) },
    },
  }, async () => ({ items: deps.filters.list().map(shape) }));

  app.get<{ Params: { id: string } }>('/v1/filters/:id', {
    config: { scope: 'lookup', errors: ['filter_not_found'] },
    serializerCompiler: plainJson,
    schema: {
      operationId: 'getFilter',
      summary: 'A registered filter and the sources it stands for now',
      tags: ['filters'],
      params: idParams,
      response: { 200: answer('the filter', ref.filterDoc) },
    },
  }, async (req) => {
    const doc = await deps.filters.get(req.params.id);
    if (!doc) throw new ApiError('filter_not_found', `filter ${req.params.id} is not registered`);
    return shape(doc);
  });
}
