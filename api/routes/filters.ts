import type { FastifyInstance } from 'fastify';
import { formatTime } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { filterSchema, idParams } from '../schemas.js';

/** Active retargeting filters: they pin the sources they name. */
export function filterRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.put<{ Params: { id: string }; Body: { filter: unknown } }>(
    '/v1/filters/:id',
    {
      config: { scope: 'admin' },
      schema: {
        params: idParams,
        // The filter's own grammar is checked by parseFilter, which names the bad node's path.
        body: { type: 'object', additionalProperties: false, required: ['filter'], properties: { filter: filterSchema } },
      },
    },
    async (req) => deps.filters.put(req.params.id, req.body.filter),
  );

  app.delete<{ Params: { id: string } }>('/v1/filters/:id', { config: { scope: 'admin' }, schema: { params: idParams } }, async (req, reply) => {
    // Idempotent: deleting a filter that is not there is not an error.
    await deps.filters.delete(req.params.id);
    return reply.status(204).send();
  });

  const shape = (d: { id: string; filter: unknown; sources: string[]; updatedAt: number }) => ({
    id: d.id, filter: d.filter, sources: d.sources, updatedAt: formatTime(d.updatedAt),
  });

  app.get('/v1/filters', { config: { scope: 'lookup' } }, async () => ({ items: deps.filters.list().map(shape) }));

  app.get<{ Params: { id: string } }>('/v1/filters/:id', { config: { scope: 'lookup' }, schema: { params: idParams } }, async (req) => {
    const doc = await deps.filters.get(req.params.id);
    if (!doc) throw new ApiError('filter_not_found', `filter ${req.params.id} is not registered`);
    return shape(doc);
  });
}
