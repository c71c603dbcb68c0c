import type { ComponentType } from 'react';
import { AudioTrimView } from './audio/AudioTrimView';
import { CustomNodesView } from './CustomNodesView';
import { ExamplesView } from './ExamplesView';
import { ExportView } from './ExportView';
import { GraphsView } from './GraphsView';
import { ImagesView } from './ImagesView';
import { ModelsView } from './models/ModelsView';
import { PluginsView } from './plugins/PluginsView';
import { PresetsView } from './presets/PresetsView';

export const VIEWS: Array<{ id: string; title: string; component: ComponentType }> = [
  { id: 'graphs', title: 'Graphs', component: GraphsView },
  { id: 'examples', title: 'Examples', component: ExamplesView },
  { id: 'presets', title: 'Presets', component: PresetsView },
  { id: 'export', title: 'Export to Python', component: ExportView },
  { id: 'custom-nodes', title: 'Custom nodes', component: CustomNodesView },
  { id: 'plugins', title: 'Plugins', component: PluginsView },
  { id: 'models', title: 'Models', component: ModelsView },
  { id: 'images', title: 'Images', component: ImagesView },
  { id: 'audio', title: 'Audio trim', component: AudioTrimView },
];
