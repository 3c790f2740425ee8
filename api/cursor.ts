/**
 * The API's page cursors: base64url of a text only this API reads back (a source name, an
 * id, a walk's position), so a client passes a cursor on and never parses it. Each listing
 * checks the text it decodes and answers a cursor it did not make with its own error.
 */
export const encodeCursor = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/** The text of a cursor encodeCursor made (any string decodes: the caller checks what it gets). */
export const decodeCursor = (cursor: string): string => Buffer.from(cursor, 'base64url').toString('utf8');
