// int and float params: typed text is checked against the bounds; leaving the field snaps an
// out-of-range entry to the nearest allowed value.
import { useEffect, useState } from 'react';
import type { ParamDefinition } from '../../api/types';
import { clampNumberParam, parseNumberParam, stepFor } from '../../graph/numbers';

interface Props {
  def: ParamDefinition;
  value: unknown;
  onChange(value: number): void;
}

function display(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : value === null || value === undefined ? '' : String(value);
}

export function NumberField({ def, value, onChange }: Props) {
  const [text, setText] = useState(display(value));
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setText(display(value));
    setProblem(null);
  }, [value]);

  const onText = (next: string) => {
    setText(next);
    const check = parseNumberParam(next, def);
    if (check.ok) {
      setProblem(null);
      onChange(check.value);
    } else setProblem(check.message);
  };

  const onBlur = () => {
    const number = Number(text.trim());
    if (text.trim() === '' || !Number.isFinite(number)) {
      setText(display(value));
      setProblem(null);
      return;
    }
    const clamped = clampNumberParam(number, def);
    setText(String(clamped));
    setProblem(null);
    if (clamped !== value) onChange(clamped);
  };

  return (
    <>
      <input
        type="number"
        data-testid={`param-${def.name}`}
        className={problem ? 'nl-invalid' : undefined}
        value={text}
        step={stepFor(def)}
        min={def.min_value ?? undefined}
        max={def.max_value ?? undefined}
        aria-invalid={problem ? true : undefined}
        onChange={(e) => onText(e.target.value)}
        onBlur={onBlur}
      />
      {problem && <div className="nl-field-problem">{problem}</div>}
    </>
  );
}
