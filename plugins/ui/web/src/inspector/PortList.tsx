import type { PortRef } from './ports';

interface Props {
  title: string;
  refs: PortRef[];
  selected: string | null;
  onSelect(ref: PortRef): void;
  empty: string;
}

export function PortList({ title, refs, selected, onSelect, empty }: Props) {
  return (
    <div>
      <div style={{ fontSize: 11, textTransform: 'uppercase', opacity: 0.6, margin: '4px 0' }}>{title}</div>
      {refs.length === 0 && <div style={{ fontSize: 12, opacity: 0.6 }}>{empty}</div>}
      {refs.map((ref) => {
        const active = ref.key === selected;
        const shape = ref.entry?.full_shape ? ` [${ref.entry.full_shape.join('×')}]` : ref.entry ? ` (${ref.entry.type})` : '';
        return (
          <button
            key={ref.key}
            data-testid={ref.testId}
            disabled={!ref.entry}
            aria-pressed={active}
            title={ref.note}
            onClick={() => onSelect(ref)}
            style={{
              display: 'block',
              width: '100%',
              textAlign: 'left',
              fontSize: 12,
              padding: '2px 6px',
              border: 'none',
              background: active ? 'rgba(74,158,255,0.25)' : 'transparent',
              color: 'inherit',
              cursor: ref.entry ? 'pointer' : 'default',
              opacity: ref.entry ? 1 : 0.5,
            }}
          >
            {ref.label}
            <span style={{ opacity: 0.6 }}>{ref.entry ? shape : ` — ${ref.note ?? ''}`}</span>
          </button>
        );
      })}
    </div>
  );
}
