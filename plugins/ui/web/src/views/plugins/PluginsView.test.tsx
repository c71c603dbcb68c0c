import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, apiError, stubFetch } from '../common/fetchStub';
import { parseInline, parseMarkdown } from './markdown';
import { PluginsView } from './PluginsView';

afterEach(() => vi.unstubAllGlobals());

const plugin = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: id,
  version: '0.1.0',
  description: `${id} things`,
  source: 'builtin',
  enabled: true,
  hooks: ['register_nodes'],
  nodes: ['A', 'B'],
  presets: [],
  error: null,
  ...extra,
});

describe('markdown subset', () => {
  it('parses headings, lists, code and paragraphs', () => {
    const blocks = parseMarkdown('# Title\n\nSome *text*\ncontinued.\n\n- one\n- two\n\n```\ncode here\n```');
    expect(blocks).toEqual([
      { kind: 'heading', level: 1, text: 'Title' },
      { kind: 'paragraph', text: 'Some *text* continued.' },
      { kind: 'list', ordered: false, items: ['one', 'two'] },
      { kind: 'code', text: 'code here' },
    ]);
  });

  it('keeps only http links', () => {
    expect(parseInline('[a](https://x.org) [b](javascript:alert(1))')).toEqual([
      { kind: 'link', text: 'a', href: 'https://x.org' },
      { kind: 'text', text: ' ' },
      { kind: 'text', text: 'b' },
      { kind: 'text', text: ')' },
    ]);
  });
});

describe('PluginsView', () => {
  it('lists plugins, shows details with the README, and toggles with a refresh', async () => {
    let enabled = true;
    const server = stubFetch([
      ['GET', '/api/plugins', () => json([plugin('core_nodes'), plugin('geo', { source: 'entry-point', enabled, error: enabled ? 'ImportError: no module named shapely' : null })])],
      [
        'GET',
        '/api/plugins/geo',
        () =>
          json({
            ...plugin('geo', { source: 'entry-point' }),
            manifest: { distribution: 'nodeloom-geo', version: '1.2.0', summary: '', entry_point: null, module: 'geo', requires_python: null, requires: ['shapely'], homepage: null, license: 'MIT', authors: [] },
            readme: '# Geo pack\n\nAdds **map** nodes.',
          }),
      ],
      [
        'POST',
        '/api/plugins/geo/disable',
        () => {
          enabled = false;
          return json({ id: 'geo', enabled: false, generation: 5, errors: [], restart_required: true });
        },
      ],
      ['POST', '/api/plugins/reload', () => json({ builtin: 1, custom: 0, plugins: 0, presets: 0, total: 1, generation: 6, errors: [{ kind: 'custom_node', source: 'x.py', message: 'boom', line: 4 }] })],
    ]);
    render(<PluginsView />);
    const geo = await screen.findByTestId('plugin-item-geo');
    expect(geo).toHaveTextContent('entry-point · v0.1.0 · enabled · 2 nodes');
    expect(screen.getByTestId('plugin-error-geo')).toHaveTextContent('ImportError: no module named shapely');

    await userEvent.click(screen.getByText('geo things'));
    const details = await screen.findByTestId('plugin-details-geo');
    expect(details.querySelector('h3')).toHaveTextContent('Geo pack');
    expect(details.querySelector('strong')).toHaveTextContent('map');
    expect(details).toHaveTextContent('nodeloom-geo');

    await userEvent.click(screen.getByTestId('plugin-toggle-geo'));
    expect(await screen.findByTestId('plugin-outcome')).toHaveTextContent('geo disabled. Some of its hooks take effect only after a server restart.');
    expect(await screen.findByText(/· disabled ·/)).toBeInTheDocument();

    await userEvent.click(screen.getByTestId('plugin-reload'));
    expect(await screen.findByTestId('plugin-outcome')).toHaveTextContent('[custom_node] x.py (line 4): boom');
    expect(server.of('GET', '/api/plugins').length).toBeGreaterThanOrEqual(3);
  });

  it('shows a refused toggle inline', async () => {
    stubFetch([
      ['GET', '/api/plugins', () => json([plugin('api')])],
      ['POST', '/api/plugins/api/disable', () => apiError(409, 'plugin_required', "Plugin 'api' is required and cannot be disabled")],
    ]);
    render(<PluginsView />);
    await userEvent.click(await screen.findByTestId('plugin-toggle-api'));
    expect(await screen.findByTestId('plugin-error')).toHaveTextContent("Plugin 'api' is required and cannot be disabled");
  });
});
