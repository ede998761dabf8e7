/** The request id pino-http assigned (`req.id`), for audit rows; undefined when there is none. */
export function requestIdOf(req: { id?: unknown }): string | undefined {
  return typeof req.id === 'string' || typeof req.id === 'number' ? String(req.id) : undefined;
}
