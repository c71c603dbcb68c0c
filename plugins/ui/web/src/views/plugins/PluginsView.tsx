import { useState } from 'react';
import { apiGet, apiSend } from '../../api/http';
import { ErrorMessage } from '../common/ErrorMessage';
import { ViewFrame, listStyle, mutedStyle, rowStyle } from '../common/layout';
import { useResource } from '../common/useResource';
import { InlineMarkdown } from './Markdown';
import { PluginDetails } from './PluginDetails';
import type { PluginItem, ReloadError, ReloadReply, ToggleReply } from './types';

const loadPlugins = () => apiGet<PluginItem[]>('/api/plugins');

interface Outcome {
  message: string;
  errors: ReloadError[];
}

export function PluginsView() {
  const { data, error, reload } = useResource(loadPlugins);
  const [open, setOpen] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [generation, setGeneration] = useState(0);

  async function run(action: () => Promise<Outcome>) {
    setBusy(true);
    setActionError(null);
    setOutcome(null);
    try {
      setOutcome(await action());
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
    setGeneration((g) => g + 1);
    await reload();
  }

  const reloadAll = () =>
    run(async () => {
      const reply = await apiSend<ReloadReply>('POST', '/api/plugins/reload');
      return { message: `Reloaded (registry generation ${reply.generation})`, errors: reply.errors ?? [] };
    });

  const toggle = (plugin: PluginItem) =>
    run(async () => {
      const verb = plugin.enabled ? 'disable' : 'enable';
      const reply = await apiSend<ToggleReply>('POST', `/api/plugins/${encodeURIComponent(plugin.id)}/${verb}`);
      const restart = reply.restart_required ? ' Some of its hooks take effect only after a server restart.' : '';
      return { message: `${plugin.id} ${reply.enabled ? 'enabled' : 'disabled'}.${restart}`, errors: reply.errors ?? [] };
    });

  return (
    <ViewFrame
      id="plugins"
      title="Plugins"
      actions={
        <button data-testid="plugin-reload" disabled={busy} onClick={() => void reloadAll()}>
          {busy ? 'Working…' : 'Reload plugins'}
        </button>
      }
    >
      <ErrorMessage error={actionError} testId="plugin-error" />
      {outcome && (
        <div data-testid="plugin-outcome" style={{ fontSize: 13 }}>
          {outcome.message}
          {outcome.errors.length > 0 && (
            <ul style={{ color: 'var(--error, #f06a6a)', margin: '4px 0', paddingLeft: 18 }}>
              {outcome.errors.map((e, i) => (
                <li key={i}>
                  [{e.kind}] {e.source}
                  {e.line !== null ? ` (line ${e.line})` : ''}: {e.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <ErrorMessage error={error} />
      <ul style={listStyle}>
        {(data ?? []).map((plugin) => (
          <li key={plugin.id} data-testid={`plugin-item-${plugin.id}`} style={{ borderBottom: rowStyle.borderBottom }}>
            <div style={{ ...rowStyle, borderBottom: 'none' }}>
              <button
                aria-expanded={open === plugin.id}
                onClick={() => setOpen(open === plugin.id ? null : plugin.id)}
                style={{ flex: 1, textAlign: 'left', background: 'none', border: 'none', color: 'inherit', cursor: 'pointer', padding: 0 }}
              >
                <strong>{plugin.name}</strong> <span style={mutedStyle}>({plugin.id})</span>{' '}
                <span style={mutedStyle}>
                  {plugin.source}
                  {plugin.version ? ` · v${plugin.version}` : ''} · {plugin.enabled ? 'enabled' : 'disabled'} · {plugin.nodes.length} nodes
                  {plugin.presets.length ? ` · ${plugin.presets.length} presets` : ''}
                </span>
                {plugin.description && (
                  <div style={mutedStyle} className="nl-markdown">
                    <InlineMarkdown text={plugin.description} />
                  </div>
                )}
                {plugin.error && (
                  <div data-testid={`plugin-error-${plugin.id}`} style={{ color: 'var(--error, #f06a6a)', fontSize: 12 }}>
                    {plugin.error}
                  </div>
                )}
              </button>
              <button data-testid={`plugin-toggle-${plugin.id}`} disabled={busy} onClick={() => void toggle(plugin)}>
                {plugin.enabled ? 'Disable' : 'Enable'}
              </button>
            </div>
            {open === plugin.id && <PluginDetails id={plugin.id} generation={generation} />}
          </li>
        ))}
      </ul>
    </ViewFrame>
  );
}
