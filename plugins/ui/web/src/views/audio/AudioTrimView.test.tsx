import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiError, json, stubCanvas, stubFetch } from '../common/fetchStub';
import { AudioTrimView } from './AudioTrimView';
import { validateRange } from './range';

const uploaded = '/temp/uploads/s_1/AudioTrim_dialog/voice.wav';

let painted: ReturnType<typeof stubCanvas>;
beforeEach(() => {
  painted = stubCanvas();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

async function setRange(start: string, end: string) {
  const s = screen.getByTestId('audio-start');
  const e = screen.getByTestId('audio-end');
  await userEvent.clear(s);
  await userEvent.type(s, start);
  await userEvent.clear(e);
  await userEvent.type(e, end);
}

describe('validateRange', () => {
  it('mirrors the server rules', () => {
    expect(validateRange(0, 1, null)).toBeNull();
    expect(validateRange(2, 2, null)).toMatch(/less than end/);
    expect(validateRange(-1, 2, null)).toMatch(/0 or more/);
    expect(validateRange(null, 2, null)).toMatch(/numbers/);
    expect(validateRange(0, 10.005, 10)).toBeNull();
    expect(validateRange(0, 10.5, 10)).toMatch(/past the end/);
  });
});

describe('AudioTrimView', () => {
  it('refuses start >= end without calling the server', async () => {
    const server = stubFetch([]);
    render(<AudioTrimView />);
    await setRange('5', '2');
    await userEvent.click(screen.getByTestId('audio-trim-button'));
    expect(screen.getByTestId('audio-error')).toHaveTextContent('Start must be less than end');
    expect(server.of('POST', '/api/audio/trim')).toHaveLength(0);
  });

  it('uploads in chunks, falls back to a flat waveform, and shows the server error then the result', async () => {
    let trimReply = () => apiError(400, 'end_past_duration', 'end (99 s) is past the end of the audio (duration 3.5 s)', { duration: 3.5 });
    const server = stubFetch([
      ['POST', '/api/upload', () => json({ success: true, completed: true, filePath: uploaded, size: 4 })],
      ['POST', '/api/audio/trim', () => trimReply()],
    ]);
    render(<AudioTrimView />);

    await userEvent.upload(screen.getByTestId('audio-upload-input'), new File(['RIFF'], 'voice.wav', { type: 'audio/wav' }));
    // jsdom cannot decode audio, so the flat-bar fallback is drawn.
    const waveform = await screen.findByTestId('audio-waveform');
    expect(waveform).toHaveAttribute('data-decoded', 'false');
    expect(painted).toContainEqual(expect.objectContaining({ x: 0, w: 800, h: 12 }));
    const form = server.of('POST', '/api/upload')[0].init.body as FormData;
    expect(form.get('nodeName')).toBe('AudioTrim');
    expect(form.get('totalChunks')).toBe('1');

    await setRange('0', '99');
    await userEvent.click(screen.getByTestId('audio-trim-button'));
    expect(await screen.findByTestId('audio-error')).toHaveTextContent('end (99 s) is past the end of the audio (duration 3.5 s)');
    const body = JSON.parse(String(server.of('POST', '/api/audio/trim')[0].init.body));
    expect(body).toMatchObject({ filePath: uploaded, start: 0, end: 99 });

    trimReply = () => json({ success: true, filePath: '/temp/AudioTrim/voice_trimmed_1.wav', duration: 1.25 });
    await setRange('0.5', '1.75');
    await userEvent.click(screen.getByTestId('audio-trim-button'));
    expect(await screen.findByTestId('audio-result')).toHaveTextContent('/temp/AudioTrim/voice_trimmed_1.wav');
    expect(screen.queryByTestId('audio-error')).toBeNull();
    expect(JSON.parse(String(server.of('POST', '/api/audio/trim')[1].init.body))).toMatchObject({ start: 0.5, end: 1.75 });
  });
});
