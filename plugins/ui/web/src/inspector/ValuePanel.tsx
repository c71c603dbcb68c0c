import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../api/http';
import { ErrorMessage } from '../views/common/ErrorMessage';
import { useResource } from '../views/common/useResource';
import { JSON_MAX_ELEMENTS, fetchValue, valueUrl } from './api';
import { Heatmap } from './Heatmap';
import { OtherValue } from './OtherValue';
import { SliceControls } from './SliceControls';
import { choiceValid, defaultChoices, numel, sliceString, slicedShape, type DimChoice } from './slice';
import { TensorSummary } from './TensorSummary';
import { isTensorBody, type OtherBody, type OutputEntry } from './types';
import { ValueGrid } from './ValueGrid';

interface Props {
  runId: string;
  nodeId: string;
  port: string;
  entry: OutputEntry | null;
  title?: string;
}

/** One recorded value; parents give it a `key` per (run, node, port) so slice state starts fresh. */
export function ValuePanel({ runId, nodeId, port, entry, title }: Props) {
  const [shape, setShape] = useState<number[] | null>(entry?.type === 'tensor' ? entry.full_shape : null);
  const [choices, setChoices] = useState<DimChoice[]>(() => (shape ? defaultChoices(shape, JSON_MAX_ELEMENTS) : []));

  const slice = shape ? sliceString(choices) : '';
  const invalid = shape !== null && choices.some((c, d) => !choiceValid(shape[d], c));
  const wanted = shape ? numel(slicedShape(shape, choices)) : 0;
  const tooMany = shape !== null && wanted > JSON_MAX_ELEMENTS;

  const load = useCallback(() => {
    if (invalid) return Promise.reject(new Error('An index is out of range for its dimension'));
    if (tooMany) return Promise.reject(new Error(`This slice has ${wanted} elements; narrow it to at most ${JSON_MAX_ELEMENTS}`));
    return fetchValue(runId, nodeId, port, slice);
  }, [runId, nodeId, port, slice, invalid, tooMany, wanted]);
  const { data, error, loading } = useResource(load, `${runId}\u0000${nodeId}\u0000${port}\u0000${slice}\u0000${invalid}\u0000${tooMany}`);

  useEffect(() => {
    if (shape !== null) return;
    // The listing did not say this is a tensor (or gave no shape): adopt what the server reports.
    let full: unknown = null;
    if (data && isTensorBody(data)) full = data.full_shape;
    if (error instanceof ApiError && error.code === 'output_too_large') full = (error.body as { full_shape?: unknown }).full_shape;
    if (Array.isArray(full) && full.every((n) => typeof n === 'number')) {
      const fs = full as number[];
      setShape(fs);
      setChoices(defaultChoices(fs, JSON_MAX_ELEMENTS));
    }
  }, [data, error, shape]);

  const shown = error ? null : data;
  const tensor = shown && isTensorBody(shown) ? shown : null;
  const heat = tensor && tensor.sliced_shape.length === 2 && !tensor.dtype.includes('complex') ? (tensor.values as unknown[][]) : null;

  return (
    <div data-testid="inspector-value" style={{ display: 'flex', flexDirection: 'column', gap: 6, minWidth: 0, flex: '1 1 300px' }}>
      <div style={{ display: 'flex', gap: 8, alignItems: 'baseline' }}>
        <strong style={{ fontSize: 13 }}>{title ?? port}</strong>
        {loading && <span style={{ fontSize: 11, opacity: 0.6 }}>loading…</span>}
        {shape && (
          <a href={valueUrl(runId, nodeId, port, slice, 'npy')} download style={{ fontSize: 11 }}>
            .npy
          </a>
        )}
      </div>
      {tensor && <TensorSummary body={tensor} />}
      {shape && shape.length > 0 && (
        <details open={shape.length > 2 || numel(shape) > JSON_MAX_ELEMENTS}>
          <summary style={{ fontSize: 12, cursor: 'pointer' }}>
            Slice <code>{slice || '(whole tensor)'}</code> → [{slicedShape(shape, choices).join(', ')}]
          </summary>
          <SliceControls shape={shape} choices={choices} onChange={setChoices} />
        </details>
      )}
      <ErrorMessage error={error} testId="inspector-value-error" />
      {heat && heat.length > 0 && <Heatmap rows={heat} />}
      {tensor && <ValueGrid values={tensor.values} shape={tensor.sliced_shape} />}
      {shown && !tensor && <OtherValue body={shown as OtherBody} />}
    </div>
  );
}

/** A port of `nodeId` found in the run's output listing (the Steps and Backward tabs' values). */
export function ListedValuePanel({ listing, ...props }: Omit<Props, 'entry'> & { listing: OutputEntry[] }) {
  const { runId, nodeId, port } = props;
  return (
    <ValuePanel
      key={`${runId}\u0000${nodeId}\u0000${port}`}
      {...props}
      entry={listing.find((e) => e.node_id === nodeId && e.port === port) ?? null}
    />
  );
}
