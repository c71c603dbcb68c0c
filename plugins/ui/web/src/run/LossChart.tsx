// Live training loss from `epoch` progress events (api.md §4.9), drawn as plain SVG.
import { memo, useMemo, useState } from 'react';
import { runController } from '../app/services';
import { useStore } from '../store/store';
import { linePath, valueRange, type Box } from './lossChart';

const BOX: Box = { width: 320, height: 150, pad: 14 };

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(2) : v.toPrecision(3);
}

function LossChartView() {
  const loss = useStore(runController.run, (s) => s.loss);
  const nodeIds = Object.keys(loss);
  const [chosen, setChosen] = useState<string | null>(null);
  const nodeId = chosen && loss[chosen] ? chosen : nodeIds[nodeIds.length - 1];
  const series = nodeId ? loss[nodeId] : undefined;

  const chart = useMemo(() => {
    if (!series) return null;
    const lines = [{ label: 'loss', values: series.losses }, { label: 'val_loss', values: series.valLosses }];
    const range = valueRange(lines);
    if (!range) return null;
    const count = Math.max(series.losses.length, series.valLosses.length, 2);
    return { range, train: linePath(series.losses, count, range, BOX), val: linePath(series.valLosses, count, range, BOX) };
  }, [series]);

  return (
    <section className="nl-loss" data-testid="loss-chart">
      <header className="nl-panel-header">
        <span>Loss</span>
        {nodeIds.length > 1 && (
          <select value={nodeId} onChange={(e) => setChosen(e.target.value)} aria-label="training node">
            {nodeIds.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        )}
        {series && (
          <span className="nl-muted">
            epoch {series.losses.length}
            {series.totalEpochs ? `/${series.totalEpochs}` : ''}
          </span>
        )}
      </header>
      {chart ? (
        <svg className="nl-loss-svg" viewBox={`0 0 ${BOX.width} ${BOX.height}`} preserveAspectRatio="none" role="img" aria-label="loss per epoch">
          <line x1={BOX.pad} y1={BOX.height - BOX.pad} x2={BOX.width - BOX.pad} y2={BOX.height - BOX.pad} className="nl-axis" />
          <line x1={BOX.pad} y1={BOX.pad} x2={BOX.pad} y2={BOX.height - BOX.pad} className="nl-axis" />
          <path d={chart.train} className="nl-loss-line" data-series="loss" />
          {chart.val && <path d={chart.val} className="nl-loss-line nl-val-line" data-series="val_loss" />}
          <text x={BOX.pad + 2} y={BOX.pad - 3} className="nl-axis-label">
            {fmt(chart.range.max)}
          </text>
          <text x={BOX.pad + 2} y={BOX.height - 3} className="nl-axis-label">
            {fmt(chart.range.min)}
          </text>
        </svg>
      ) : (
        <div className="nl-muted nl-loss-empty">Training nodes plot their loss here while they run.</div>
      )}
      {chart && series && series.valLosses.length > 0 && (
        <div className="nl-legend">
          <span className="nl-legend-train">loss</span> <span className="nl-legend-val">val_loss</span>
        </div>
      )}
    </section>
  );
}

export const LossChart = memo(LossChartView);
