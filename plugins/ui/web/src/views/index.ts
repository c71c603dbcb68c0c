import { lazy, type ComponentType } from 'react';

// Each view is its own chunk: none of them is needed to paint the editor, which is what a page
// load waits for.
export const VIEWS: Array<{ id: string; title: string; component: ComponentType }> = [
  { id: 'graphs', title: 'Graphs', component: lazy(() => import('./GraphsView').then((m) => ({ default: m.GraphsView }))) },
  { id: 'examples', title: 'Examples', component: lazy(() => import('./ExamplesView').then((m) => ({ default: m.ExamplesView }))) },
  { id: 'presets', title: 'Presets', component: lazy(() => import('./presets/PresetsView').then((m) => ({ default: m.PresetsView }))) },
  { id: 'export', title: 'Export to Python', component: lazy(() => import('./ExportView').then((m) => ({ default: m.ExportView }))) },
  {
    id: 'custom-nodes',
    title: 'Custom nodes',
    component: lazy(() => import('./CustomNodesView').then((m) => ({ default: m.CustomNodesView }))),
  },
  { id: 'plugins', title: 'Plugins', component: lazy(() => import('./plugins/PluginsView').then((m) => ({ default: m.PluginsView }))) },
  { id: 'models', title: 'Models', component: lazy(() => import('./models/ModelsView').then((m) => ({ default: m.ModelsView }))) },
  { id: 'images', title: 'Images', component: lazy(() => import('./ImagesView').then((m) => ({ default: m.ImagesView }))) },
  { id: 'audio', title: 'Audio trim', component: lazy(() => import('./audio/AudioTrimView').then((m) => ({ default: m.AudioTrimView }))) },
];
