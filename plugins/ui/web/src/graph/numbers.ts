// Number fields: what the user typed, checked against the declared bounds (engine.md §2.3).
import type { ParamDefinition } from '../api/types';

export type NumberCheck = { ok: true; value: number } | { ok: false; message: string };

export function parseNumberParam(text: string, def: Pick<ParamDefinition, 'param_type' | 'min_value' | 'max_value'>): NumberCheck {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, message: 'A number is required' };
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { ok: false, message: 'Not a finite number' };
  if (def.param_type === 'int' && !Number.isInteger(value)) return { ok: false, message: 'Must be a whole number' };
  if (def.min_value !== null && value < def.min_value) return { ok: false, message: `Minimum is ${def.min_value}` };
  if (def.max_value !== null && value > def.max_value) return { ok: false, message: `Maximum is ${def.max_value}` };
  return { ok: true, value };
}

/** The nearest allowed value, used when a field is left with an out-of-range entry. */
export function clampNumberParam(value: number, def: Pick<ParamDefinition, 'param_type' | 'min_value' | 'max_value'>): number {
  let result = def.param_type === 'int' ? Math.round(value) : value;
  if (def.min_value !== null && result < def.min_value) result = def.param_type === 'int' ? Math.ceil(def.min_value) : def.min_value;
  if (def.max_value !== null && result > def.max_value) result = def.param_type === 'int' ? Math.floor(def.max_value) : def.max_value;
  return result;
}

export function stepFor(def: Pick<ParamDefinition, 'param_type'>): string {
  return def.param_type === 'int' ? '1' : 'any';
}
