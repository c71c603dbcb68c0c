// One param's widget, chosen by param_type (api.md §4.3).
import { useEffect, useState } from 'react';
import type { ParamDefinition } from '../../api/types';
import { ImageFileSelect, ModelFileSelect, UploadWidget } from '../../integration/optional';
import { NumberField } from './NumberField';
import { TensorGridField } from './TensorGridField';

export interface ParamFieldProps {
  def: ParamDefinition;
  value: unknown;
  onChange(value: unknown): void;
  nodeId: string;
  nodeType: string;
}

function asString(value: unknown): string {
  return typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value);
}

/** Text fields report on blur (and Enter), so typing a word is one undo step, not one per letter. */
function TextField({ def, value, onChange, secret }: { def: ParamDefinition; value: unknown; onChange(v: string): void; secret?: boolean }) {
  const [text, setText] = useState(asString(value));
  const [shown, setShown] = useState(false);
  useEffect(() => setText(asString(value)), [value]);
  const commit = () => {
    if (text !== asString(value)) onChange(text);
  };
  return (
    <span className="nl-text-field">
      <input
        type={secret && !shown ? 'password' : 'text'}
        data-testid={`param-${def.name}`}
        value={text}
        autoComplete={secret ? 'off' : undefined}
        spellCheck={secret ? false : undefined}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
        }}
      />
      {secret && (
        <button type="button" className="nl-small-button" onClick={() => setShown((s) => !s)} aria-label={shown ? 'Hide value' : 'Show value'}>
          {shown ? 'hide' : 'show'}
        </button>
      )}
    </span>
  );
}

function SelectField({ def, value, onChange }: { def: ParamDefinition; value: unknown; onChange(v: string): void }) {
  const current = asString(value);
  const known = def.options.includes(current);
  return (
    <select data-testid={`param-${def.name}`} value={current} onChange={(e) => onChange(e.target.value)}>
      {!known && <option value={current}>{current === '' ? '(none)' : `${current} (not an option)`}</option>}
      {def.options.map((o) => (
        <option key={o} value={o}>
          {o}
        </option>
      ))}
    </select>
  );
}

export function ParamField({ def, value, onChange, nodeId, nodeType }: ParamFieldProps) {
  switch (def.param_type) {
    case 'int':
    case 'float':
      return <NumberField def={def} value={value} onChange={onChange} />;
    case 'bool':
      return <input type="checkbox" data-testid={`param-${def.name}`} checked={value === true} onChange={(e) => onChange(e.target.checked)} />;
    case 'select':
      return <SelectField def={def} value={value} onChange={onChange} />;
    case 'secret':
      return <TextField def={def} value={value} onChange={onChange} secret />;
    case 'tensor_grid':
      return <TensorGridField def={def} value={value} onChange={onChange} />;
    case 'model_file':
      return ModelFileSelect ? (
        <div data-testid={`param-${def.name}`} className="nl-widget-wrap">
          <ModelFileSelect value={asString(value)} onChange={onChange} category={def.options.length === 1 ? def.options[0] : undefined} />
        </div>
      ) : (
        <TextField def={def} value={value} onChange={onChange} />
      );
    case 'image_file':
      return ImageFileSelect ? (
        <div data-testid={`param-${def.name}`} className="nl-widget-wrap">
          <ImageFileSelect value={asString(value)} onChange={onChange} />
        </div>
      ) : (
        <TextField def={def} value={value} onChange={onChange} />
      );
    case 'upload':
      return UploadWidget ? (
        <div data-testid={`param-${def.name}`} className="nl-widget-wrap">
          <UploadWidget value={asString(value)} onChange={onChange} nodeId={nodeId} nodeName={nodeType} accept={def.options.join(',') || undefined} />
        </div>
      ) : (
        <TextField def={def} value={value} onChange={onChange} />
      );
    default:
      return <TextField def={def} value={value} onChange={onChange} />;
  }
}
