// Time-range rules of the trim dialog; they mirror the server's checks (api.md §2.13) so most
// mistakes are caught before a round trip, while the server stays the final word.

export const DURATION_TOLERANCE_S = 0.01;

export function parseSeconds(text: string): number | null {
  if (text.trim() === '') return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

export function validateRange(start: number | null, end: number | null, duration: number | null): string | null {
  if (start === null || end === null) return 'Start and end must be numbers (seconds)';
  if (start < 0) return 'Start must be 0 or more';
  if (start >= end) return 'Start must be less than end';
  if (duration !== null && end > duration + DURATION_TOLERANCE_S) {
    return `End (${end} s) is past the end of the audio (${duration.toFixed(3)} s)`;
  }
  return null;
}

export function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

export function timeToFraction(t: number, duration: number): number {
  return duration > 0 ? clamp(t / duration, 0, 1) : 0;
}

export function fractionToTime(f: number, duration: number): number {
  return clamp(f, 0, 1) * duration;
}

/** Seconds as text for the number inputs: millisecond precision, no trailing zeros. */
export function secondsText(t: number): string {
  return String(Math.round(t * 1000) / 1000);
}
