// Modules written alongside the editor (library views, inspector, file widgets). They are picked up
// with import.meta.glob so the editor builds and runs with whichever of them exist.
import { lazy, type ComponentType } from 'react';
import type { NodeDefinition } from '../api/types';

export interface ViewEntry {
  id: string;
  title: string;
  component: ComponentType;
}

export interface InspectorProps {
  runId: string | null;
  nodeId: string;
  definition?: NodeDefinition;
}

export interface FileSelectProps {
  value: string;
  onChange(v: string): void;
  category?: string;
}

export interface UploadProps {
  value: string;
  onChange(v: string): void;
  nodeId: string;
  nodeName: string;
  accept?: string;
}

type Module = Record<string, unknown>;

const viewModules = import.meta.glob<Module>('../views/index.ts', { eager: true });
// Not eager: the inspector is opened only after a recorded run, so it loads as a chunk of its own.
const inspectorLoaders = import.meta.glob<Module>('../inspector/Inspector.tsx');
const widgetModules = import.meta.glob<Module>(['../widgets/*.tsx', '!../widgets/*.test.tsx'], { eager: true });

function exported<T>(modules: Record<string, Module>, name: string): T | null {
  for (const module of Object.values(modules)) {
    if (name in module && module[name]) return module[name] as T;
  }
  return null;
}

function isView(value: unknown): value is ViewEntry {
  const v = value as Partial<ViewEntry> | null;
  return !!v && typeof v.id === 'string' && typeof v.title === 'string' && !!v.component;
}

const views = exported<unknown>(viewModules, 'VIEWS');
export const VIEWS: ViewEntry[] = Array.isArray(views) ? views.filter(isView) : [];
const inspectorLoader = Object.values(inspectorLoaders)[0];
/** Lazy: render it inside a Suspense boundary. */
export const Inspector: ComponentType<InspectorProps> | null = inspectorLoader
  ? lazy(async () => {
      const component = exported<ComponentType<InspectorProps>>({ inspector: await inspectorLoader() }, 'Inspector');
      if (!component) throw new Error('the inspector module exports no Inspector');
      return { default: component };
    })
  : null;
export const ModelFileSelect = exported<ComponentType<FileSelectProps>>(widgetModules, 'ModelFileSelect');
export const ImageFileSelect = exported<ComponentType<FileSelectProps>>(widgetModules, 'ImageFileSelect');
export const UploadWidget = exported<ComponentType<UploadProps>>(widgetModules, 'UploadWidget');
