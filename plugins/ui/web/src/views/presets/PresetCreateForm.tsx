import { useEffect, useMemo, useState } from 'react';
import { apiSend } from '../../api/http';
import type { PresetDefinition } from '../../api/types';
import type { EditorBridge } from '../../editor/bridge';
import { ErrorMessage } from '../common/ErrorMessage';
import { mutedStyle } from '../common/layout';
import { automaticSelection, candidateKey, exposeLists, portCandidates } from './exposure';
import { useSelection } from './useSelection';

interface Props {
  bridge: EditorBridge;
  presets: PresetDefinition[];
  onCreated: (preset: PresetDefinition) => Promise<void> | void;
}

export function PresetCreateForm({ bridge, presets, onCreated }: Props) {
  const selection = useSelection(bridge);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [category, setCategory] = useState('Custom');
  const [tags, setTags] = useState('');
  const [overwrite, setOverwrite] = useState(false);
  const [custom, setCustom] = useState(false);
  const [chosen, setChosen] = useState<Set<string> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const candidates = useMemo(
    () => portCandidates(selection.nodes, selection.edges, bridge.nodeDefinitions(), presets),
    [selection, bridge, presets],
  );
  // A new selection invalidates the user's picks; start again from the automatic choice.
  useEffect(() => setChosen(null), [candidates]);
  const picked = chosen ?? automaticSelection(candidates);
  const nodes = selection.nodes.filter((n) => n.type !== 'note');

  function flip(key: string) {
    const next = new Set(picked);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setChosen(next);
  }

  async function create() {
    setError(null);
    setNote(null);
    if (!name.trim()) {
      setError(new Error('Enter a preset name'));
      return;
    }
    if (nodes.length === 0) {
      setError(new Error('Select the nodes for the preset on the canvas first'));
      return;
    }
    const lists = custom ? exposeLists(candidates, picked) : null;
    setBusy(true);
    try {
      const preset = await apiSend<PresetDefinition>('POST', '/api/presets/create', {
        name: name.trim(),
        description,
        category: category.trim() || 'Custom',
        tags: tags.split(',').map((t) => t.trim()).filter(Boolean),
        nodes: selection.nodes,
        edges: selection.edges,
        // null asks the server for its automatic choice (§2.3.3 step 10).
        exposed_inputs: lists ? lists.inputs : null,
        exposed_outputs: lists ? lists.outputs : null,
        overwrite,
      });
      setNote(`Created preset “${preset.preset_name}”`);
      setName('');
      await onCreated(preset);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <fieldset style={{ display: 'flex', flexDirection: 'column', gap: 6 }}>
      <legend>Create a preset from the selection</legend>
      <span style={mutedStyle} data-testid="preset-selection-count">
        {nodes.length} node{nodes.length === 1 ? '' : 's'} selected, {selection.edges.length} internal edge{selection.edges.length === 1 ? '' : 's'}
      </span>
      <div style={{ display: 'flex', gap: 6, flexWrap: 'wrap' }}>
        <input data-testid="preset-create-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Preset name" aria-label="preset name" />
        <input value={category} onChange={(e) => setCategory(e.target.value)} placeholder="Category" aria-label="preset category" size={12} />
        <input value={tags} onChange={(e) => setTags(e.target.value)} placeholder="tags, comma separated" aria-label="preset tags" size={16} />
      </div>
      <textarea value={description} onChange={(e) => setDescription(e.target.value)} placeholder="Description" aria-label="preset description" rows={2} />
      <label>
        <input type="checkbox" checked={custom} onChange={(e) => setCustom(e.target.checked)} /> Choose exposed ports (otherwise every unconnected port)
      </label>
      {custom && (
        <ul style={{ listStyle: 'none', margin: 0, paddingLeft: 8, maxHeight: 200, overflow: 'auto', fontSize: 12 }}>
          {candidates.length === 0 && <li style={mutedStyle}>No ports known for the selected nodes.</li>}
          {candidates.map((c) => {
            const key = candidateKey(c);
            // An input fed inside the preset cannot also be a preset input (the server refuses it).
            const blocked = c.side === 'input' && c.internal;
            return (
              <li key={key}>
                <label style={blocked ? { opacity: 0.5 } : undefined}>
                  <input type="checkbox" disabled={blocked} checked={!blocked && picked.has(key)} onChange={() => flip(key)} /> {c.side === 'input' ? '→' : '←'}{' '}
                  {c.node}.{c.port} <span style={mutedStyle}>({c.dataType})</span>
                </label>
              </li>
            );
          })}
        </ul>
      )}
      <div style={{ display: 'flex', gap: 8, alignItems: 'center' }}>
        <label>
          <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} /> overwrite my preset of that name
        </label>
        <button data-testid="preset-create" disabled={busy} onClick={() => void create()}>
          Create preset
        </button>
      </div>
      {note && <span style={mutedStyle}>{note}</span>}
      <ErrorMessage error={error} testId="preset-create-error" />
    </fieldset>
  );
}
