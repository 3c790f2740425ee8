import type { FastifyInstance } from 'fastify';
import type { Erasure } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { answer, cursorAnswer, pageLimit, ref, timeString, userIdString } from '../schemas.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** An erasure as the API shows it. */
function erasureView(e: Erasure) {
  return { id: e.id, userId: e.userId, status: e.status, requestedAt: iso(e.requestedAt), finishedAt: iso(e.finishedAt), removed: e.removed };
}

const ERASURE_ID = { type: 'string', pattern: '^[a-z0-9]{9}-[a-f0-9]{8}$' } as const;

/** Erasure of a user (docs/operating.md, "Erasure"): request, state, audit trail. Admin only. */
export function erasureRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.delete<{ Params: { userId: string } }>(
    '/v1/users/:userId',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'eraseUser',
        summary: "Erase a user: their events and the user leave every answer, for good",
        description: 'Events published before the request never come back (redelivery, replay, restore, rebuild). Follow it with GET /v1/erasures/{id}.',
        tags: ['users'],
        params: { type: 'object', additionalProperties: false, required: ['userId'], properties: { userId: userIdString } },
        response: {
          202: answer('the erasure, requested', {
            type: 'object',
            required: ['id', 'userId', 'status', 'requestedAt'],
            properties: { id: { type: 'string' }, userId: { type: 'string' }, status: { type: 'string', enum: ['pending', 'done'] }, requestedAt: timeString },
          }),
        },
      },
    },
    async (req, reply) => {
      const e = await deps.erasures.request(req.params.userId);
      const { id, userId, status, requestedAt } = erasureView(e);
      return reply.code(202).send({ id, userId, status, requestedAt });
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/erasures/:id',
    {
      config: { scope: 'admin', errors: ['erasure_not_found'] },
      schema: {
        operationId: 'getErasure',
        summary: 'An erasure: pending or done, and what it removed',
        tags: ['users'],
        params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } },
        response: { 200: answer('the erasure', ref.erasure) },
      },
    },
    async (req) => erasureView(await deps.erasures.get(req.params.id)),
  );
  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/v1/erasures',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listErasures',
        summary: 'The erasures, newest first: the audit trail',
        tags: ['users'],
        response: {
          200: answer('a page of erasures', { type: 'object', required: ['items', 'cursor'], properties: { items: { type: 'array', items: ref.erasure }, cursor: cursorAnswer } }),
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: pageLimit, cursor: ERASURE_ID },
        },
      },
    },
    async (req) => {
      const { items, next } = deps.erasures.list(req.query.limit ?? 100, req.query.cursor);
      return { items: items.map(erasureView), cursor: next };
    },
  );
}
