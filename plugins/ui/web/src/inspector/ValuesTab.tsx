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
    <div style={{ display: 'flex', gap: 10, alignItems: 'flex-start' }}>
      <div style={{ width: 180, flexShrink: 0 }}>
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
