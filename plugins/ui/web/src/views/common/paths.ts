/** Percent-encodes each segment of a relpath but keeps the `/` separators (`{filename:path}` routes). */
export function encodePath(relpath: string): string {
  return relpath.split('/').map(encodeURIComponent).join('/');
}

/** Human-readable byte count. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
