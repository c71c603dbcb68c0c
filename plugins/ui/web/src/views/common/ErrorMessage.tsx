import { errorList, errorText } from './errors';

interface Props {
  error: unknown;
  testId?: string;
}

/** Inline error line; renders nothing when there is no error. */
export function ErrorMessage({ error, testId }: Props) {
  if (error === null || error === undefined) return null;
  const text = errorText(error);
  const extra = errorList(error).filter((item) => item !== text);
  return (
    <div role="alert" className="nl-error" data-testid={testId} style={errorStyle}>
      {text}
      {extra.length > 0 && (
        <ul style={{ margin: '4px 0 0', paddingLeft: 18 }}>
          {extra.map((item, i) => (
            <li key={i}>{item}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

const errorStyle = {
  color: 'var(--error, #f06a6a)',
  whiteSpace: 'pre-wrap' as const,
  margin: '4px 0',
  fontSize: 13,
};
