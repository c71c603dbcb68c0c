// One id per page load keeps this tab's uploads apart from other tabs' (api.md §2.12.1 sessionId).
let cached: string | null = null;

export function clientSessionId(): string {
  if (!cached) {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    cached = `s_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }
  return cached;
}
