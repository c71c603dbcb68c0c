import { computePeaks } from './peaks';

export interface DecodedAudio {
  duration: number;
  peaks: Array<[number, number]>;
}

type AudioContextCtor = new () => AudioContext;

function audioContextClass(): AudioContextCtor | null {
  const w = globalThis as unknown as { AudioContext?: AudioContextCtor; webkitAudioContext?: AudioContextCtor };
  return w.AudioContext ?? w.webkitAudioContext ?? null;
}

/** Decodes a served file for drawing; throws when the browser cannot decode it (the caller falls back). */
export async function decodeForWaveform(url: string, buckets = 800): Promise<DecodedAudio> {
  const Ctor = audioContextClass();
  if (!Ctor) throw new Error('This browser cannot decode audio');
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Could not fetch ${url}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const context = new Ctor();
  try {
    const buffer = await context.decodeAudioData(bytes);
    const channels: Float32Array[] = [];
    for (let c = 0; c < buffer.numberOfChannels; c += 1) channels.push(buffer.getChannelData(c));
    return { duration: buffer.duration, peaks: computePeaks(channels, buckets) };
  } finally {
    void context.close().catch(() => undefined);
  }
}
