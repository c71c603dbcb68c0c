import '@xyflow/react/dist/style.css';
import './styles/app.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { getToken } from './api/http';
import { App } from './app/App';
import { ensureDefinitions } from './defs/definitionsStore';

// Read (and strip) #token= before anything else can copy the URL.
void getToken().catch(() => undefined);
// GET routes are open, so the palette's data need not wait for the token or for React's first commit.
const definitions = ensureDefinitions();

// index.html asked for the registry while the bundle loaded, so it is usually here already. Waiting
// a moment for it lets the first render include the palette instead of rendering the editor twice;
// a slow server only delays that first render by the cap.
const FIRST_RENDER_WAIT_MS = 250;

function render() {
  const root = document.getElementById('root');
  if (!root) return;
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}

void Promise.race([definitions, new Promise((resolve) => setTimeout(resolve, FIRST_RENDER_WAIT_MS))]).then(render);
