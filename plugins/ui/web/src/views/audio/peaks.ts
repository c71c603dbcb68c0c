/** Min/max per bucket across all channels: enough to draw a waveform at any width. */
export function computePeaks(channels: Float32Array[], buckets: number): Array<[number, number]> {
  const length = channels.reduce((n, c) => Math.max(n, c.length), 0);
  const count = Math.max(1, Math.min(buckets, length || 1));
  const peaks: Array<[number, number]> = [];
  for (let b = 0; b < count; b += 1) {
    const from = Math.floor((b * length) / count);
    const to = Math.max(from + 1, Math.floor(((b + 1) * length) / count));
    let lo = 0;
    let hi = 0;
    for (const data of channels) {
      for (let i = from; i < Math.min(to, data.length); i += 1) {
        const v = data[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    peaks.push([lo, hi]);
  }
  return peaks;
}
