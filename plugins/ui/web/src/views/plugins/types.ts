// Shapes of api.md §2.7 and the reload response of §2.2.3.

export interface PluginItem {
  id: string;
  name: string;
  version: string | null;
  description: string;
  source: 'builtin' | 'entry-point' | 'custom' | string;
  enabled: boolean;
  hooks: string[];
  nodes: string[];
  presets: string[];
  error: string | null;
}

export interface PluginManifest {
  distribution: string | null;
  version: string | null;
  summary: string;
  entry_point: { group: string; name: string; value: string } | null;
  module: string | null;
  requires_python: string | null;
  requires: string[];
  homepage: string | null;
  license: string | null;
  authors: string[];
}

export interface PluginDetail extends PluginItem {
  manifest: PluginManifest;
  readme: string;
}

export interface ReloadError {
  kind: string;
  source: string;
  message: string;
  line: number | null;
}

export interface ReloadReply {
  generation: number;
  errors: ReloadError[];
  total?: number;
}

export interface ToggleReply {
  id: string;
  enabled: boolean;
  generation: number;
  errors: ReloadError[];
  restart_required: boolean;
}
