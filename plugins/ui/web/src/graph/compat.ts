// Port type rules of engine.md §2.2 and the colours the canvas uses for them.

export const TRIGGER = 'TRIGGER';
export const ANY = 'ANY';

export function canConnect(source: string, target: string): boolean {
  if (source === TRIGGER || target === TRIGGER) return source === TRIGGER && target === TRIGGER;
  if (source === ANY || target === ANY) return true;
  if (source === target) return true;
  return source === 'IMAGE' && target === 'TENSOR';
}

const COLOURS: Record<string, string> = {
  TENSOR: '#4f9cf7',
  MODEL: '#b07cf5',
  DATASET: '#f2a33a',
  DATALOADER: '#e07b39',
  OPTIMIZER: '#e35d6a',
  LOSS_FN: '#d14d9c',
  SCALAR: '#4cc38a',
  STRING: '#e6c84f',
  IMAGE: '#36c2c9',
  LIST: '#8fa3bf',
  ANY: '#c7ccd6',
  TRIGGER: '#ff8a3d',
};

/** Pack-declared types get a stable hue derived from their name, so they stay recognisable. */
export function portColour(type: string): string {
  const known = COLOURS[type];
  if (known) return known;
  let hash = 0;
  for (let i = 0; i < type.length; i += 1) hash = (hash * 31 + type.charCodeAt(i)) >>> 0;
  return `hsl(${hash % 360}, 55%, 60%)`;
}
