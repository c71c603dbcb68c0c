import { ApiError } from '../../api/http';

/** The text to show for a failed call: the server's own wording whenever there is one. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Extra string lists some errors carry (invalid_graph `errors`, invalid_params `errors`). */
export function errorList(error: unknown): string[] {
  if (!(error instanceof ApiError)) return [];
  const body = error.body;
  if (!body || typeof body !== 'object') return [];
  const list = (body as { errors?: unknown }).errors;
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [];
}
