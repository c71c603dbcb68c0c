// Modules written alongside the editor (library views, inspector, file widgets). They are picked up
// with import.meta.glob so the editor builds and runs with whichever of them exist.
import type { ComponentType } from 'react';
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
const inspectorModules = import.meta.glob<Module>('../inspector/Inspector.tsx', { eager: true });
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
export const Inspector = exported<ComponentType<InspectorProps>>(inspectorModules, 'Inspector');
export const ModelFileSelect = exported<ComponentType<FileSelectProps>>(widgetModules, 'ModelFileSelect');
export const ImageFileSelect = exported<ComponentType<FileSelectProps>>(widgetModules, 'ImageFileSelect');
export const UploadWidget = exported<ComponentType<UploadProps>>(widgetModules, 'UploadWidget');
