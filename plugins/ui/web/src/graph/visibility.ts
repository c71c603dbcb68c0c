// visible_when of engine.md §2.3: a field is shown when every listed sibling has the given value.
import type { ParamDefinition } from '../api/types';

export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  return false;
}

export function effectiveValue(def: ParamDefinition | undefined, params: Record<string, unknown>, name: string): unknown {
  return name in params ? params[name] : def?.default;
}

export function isParamVisible(param: ParamDefinition, params: Record<string, unknown>, all: readonly ParamDefinition[]): boolean {
  if (!param.visible_when) return true;
  return Object.entries(param.visible_when).every(([sibling, required]) => {
    const def = all.find((p) => p.name === sibling);
    return sameValue(effectiveValue(def, params, sibling), required);
  });
}
