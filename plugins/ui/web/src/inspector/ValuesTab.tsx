import { useState } from 'react';
import type { PortRef } from './ports';
import { PortList } from './PortList';
import { ValuePanel } from './ValuePanel';

interface Props {
  runId: string;
  inputs: PortRef[];
  outputs: PortRef[];
}

export function ValuesTab({ runId, inputs, outputs }: Props) {
  const firstRecorded = outputs.find((r) => r.entry) ?? inputs.find((r) => r.entry) ?? null;
  const [chosen, setChosen] = useState<string | null>(null);
  const all = [...inputs, ...outputs];
  const current = all.find((r) => r.key === chosen && r.entry) ?? firstRecorded;

  return (
    // Wraps: in a narrow panel the port list sits above the values so the grid and heatmap get the full width.
    <div style={{ display: 'flex', flexWrap: 'wrap', gap: 10, alignItems: 'flex-start' }}>
      <div style={{ flex: '1 0 160px', maxWidth: 220, minWidth: 0 }}>
        <PortList title="Inputs" refs={inputs} selected={current?.key ?? null} onSelect={(r) => setChosen(r.key)} empty="no inputs" />
        <PortList title="Outputs" refs={outputs} selected={current?.key ?? null} onSelect={(r) => setChosen(r.key)} empty="no outputs" />
      </div>
      {current && (
        <ValuePanel
          key={`${runId}\u0000${current.nodeId}\u0000${current.port}`}
          runId={runId}
          nodeId={current.nodeId}
          port={current.port}
          entry={current.entry}
          title={current.label}
        />
      )}
    </div>
  );
}
