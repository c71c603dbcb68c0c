import { apiGet } from '../api/http';
import type { ModelItem } from '../views/models/types';

export interface FileOption {
  value: string;
  label: string;
}

interface CategoryFile {
  name: string;
  path: string;
}

/** Model files a loader param may pick: one category (§2.8.2) or every installed file (§2.8.1). */
export async function loadModelOptions(category?: string): Promise<FileOption[]> {
  if (category) {
    const files = await apiGet<CategoryFile[]>(`/api/models/${encodeURIComponent(category)}`);
    return files.map((f) => ({ value: f.path, label: f.path }));
  }
  const items = await apiGet<ModelItem[]>('/api/models');
  return items
    .filter((item) => item.installed && item.filename)
    .map((item) => ({ value: item.filename as string, label: `${item.filename}${item.name !== item.filename ? ` (${item.name})` : ''}` }));
}
