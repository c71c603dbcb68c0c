// Canvas notes (engine.md §1.5): text or image annotations stored in the graph, ignored by runs.
import { NodeResizer, type NodeProps } from '@xyflow/react';
import { memo, useEffect, useState } from 'react';
import type { FlowNode } from '../../graph/flow';
import { useNodeEnvironment } from './context';

const COLOURS = ['#fff3b0', '#c8e6c9', '#bbdefb', '#f8bbd0', '#e1bee7', '#ffe0b2'];

function NoteNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const env = useNodeEnvironment();
  const extra = data.extraData;
  const content = typeof extra.noteContent === 'string' ? extra.noteContent : '';
  const colour = typeof extra.noteColor === 'string' ? extra.noteColor : COLOURS[0];
  const isImage = extra.noteKind === 'image';
  const [draft, setDraft] = useState(content);
  useEffect(() => setDraft(content), [content]);

  const commitText = () => {
    if (draft !== content) env.setNoteData(id, { noteContent: draft });
  };

  return (
    <div
      className={`nl-note${selected ? ' nl-selected' : ''}`}
      data-testid={`node-${id}`}
      data-status="idle"
      data-type="note"
      style={{ background: colour }}
    >
      <NodeResizer
        isVisible={selected}
        minWidth={120}
        minHeight={60}
        onResizeEnd={(_, params) => env.setNoteData(id, { noteWidth: Math.round(params.width), noteHeight: Math.round(params.height) })}
      />
      <div className="nl-note-grip">
        <span>note</span>
        <span className="nl-note-colours nodrag">
          {COLOURS.map((c) => (
            <button
              key={c}
              type="button"
              aria-label={`colour ${c}`}
              className={c === colour ? 'nl-swatch nl-swatch-on' : 'nl-swatch'}
              style={{ background: c }}
              onClick={() => env.setNoteData(id, { noteColor: c })}
            />
          ))}
        </span>
      </div>
      {isImage ? (
        <img className="nl-note-image" alt="note" src={content} />
      ) : (
        <textarea
          className="nl-note-text nodrag nowheel"
          data-testid={`note-text-${id}`}
          value={draft}
          placeholder="Write a note…"
          onChange={(e) => setDraft(e.target.value)}
          onBlur={commitText}
        />
      )}
    </div>
  );
}

export const NoteNode = memo(NoteNodeView);
