interface Props {
  done: number;
  total: number;
  testId?: string;
  label?: string;
}

/** Native <progress> so screen readers and tests can read its value. */
export function ProgressBar({ done, total, testId, label }: Props) {
  const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
  return (
    <span style={{ display: 'inline-flex', alignItems: 'center', gap: 6 }}>
      <progress data-testid={testId} max={100} value={percent} aria-label={label ?? 'progress'} style={{ width: 140 }} />
      <span style={{ fontSize: 12 }}>{percent}%</span>
    </span>
  );
}
