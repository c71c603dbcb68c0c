// The app's long-lived singletons, created once per page.
import { getToken, resetTokenCache } from '../api/http';
import { loadDefinitions } from '../defs/definitionsStore';
import { forgetDynamicPorts } from '../editor/dynamicPorts';
import { RunController } from '../run/runController';

async function socketUrl(): Promise<string> {
  const token = await getToken();
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${window.location.host}/ws/execution?token=${encodeURIComponent(token)}`;
}

function memoryStorage(): Storage {
  const map = new Map<string, string>();
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    getItem: (k) => map.get(k) ?? null,
    key: (i) => [...map.keys()][i] ?? null,
    removeItem: (k) => void map.delete(k),
    setItem: (k, v) => void map.set(k, v),
  };
}

function sessionStorageOrMemory(): Storage {
  try {
    return window.sessionStorage;
  } catch {
    return memoryStorage();
  }
}

export const runController = new RunController({
  storage: sessionStorageOrMemory(),
  url: socketUrl,
  onRegistryChanged: () => {
    forgetDynamicPorts();
    void loadDefinitions();
  },
  // A refused upgrade most likely means the server restarted with a new token.
  onRefused: () => resetTokenCache(),
});
