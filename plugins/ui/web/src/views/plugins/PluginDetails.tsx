import { useCallback } from 'react';
import { apiGet } from '../../api/http';
import { ErrorMessage } from '../common/ErrorMessage';
import { mutedStyle } from '../common/layout';
import { useResource } from '../common/useResource';
import { Markdown } from './Markdown';
import type { PluginDetail } from './types';

/** Manifest and README of one plugin (§2.7.3); refetched when the registry generation moves. */
export function PluginDetails({ id, generation }: { id: string; generation: number }) {
  const load = useCallback(() => apiGet<PluginDetail>(`/api/plugins/${encodeURIComponent(id)}`), [id]);
  const { data, error } = useResource(load, `${id}@${generation}`);
  if (error) return <ErrorMessage error={error} />;
  if (!data) return <p style={mutedStyle}>Loading…</p>;
  const m = data.manifest;
  const rows: Array<[string, string | null]> = [
    ['Distribution', m.distribution],
    ['Module', m.module],
    ['Entry point', m.entry_point ? `${m.entry_point.name} = ${m.entry_point.value}` : null],
    ['Requires Python', m.requires_python],
    ['Requires', m.requires.length ? m.requires.join(', ') : null],
    ['License', m.license],
    ['Authors', m.authors.length ? m.authors.join(', ') : null],
    ['Hooks', data.hooks.join(', ') || null],
    ['Nodes', data.nodes.join(', ') || null],
    ['Presets', data.presets.join(', ') || null],
  ];
  return (
    <div data-testid={`plugin-details-${id}`} style={{ padding: '6px 0 6px 12px' }}>
      <table style={{ fontSize: 12, borderSpacing: '8px 2px' }}>
        <tbody>
          {rows
            .filter(([, value]) => value)
            .map(([label, value]) => (
              <tr key={label}>
                <th style={{ textAlign: 'left', verticalAlign: 'top', fontWeight: 500 }}>{label}</th>
                <td>{value}</td>
              </tr>
            ))}
          {m.homepage && /^https?:\/\//i.test(m.homepage) && (
            <tr>
              <th style={{ textAlign: 'left', fontWeight: 500 }}>Homepage</th>
              <td>
                <a href={m.homepage} target="_blank" rel="noreferrer noopener">
                  {m.homepage}
                </a>
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {data.readme ? <Markdown source={data.readme} /> : <p style={mutedStyle}>No README.</p>}
    </div>
  );
}
