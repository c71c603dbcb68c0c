"""The page shown instead of the editor while the bundle has not been built."""

from __future__ import annotations

import html
from pathlib import Path

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nodeloom: web UI not built</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem;
       color: #d8dde6; background: #14171c; }}
code, pre {{ background: #222831; padding: .1rem .35rem; border-radius: 4px; }}
pre {{ padding: .75rem 1rem; }}
a {{ color: #7cb7ff; }}
</style>
</head>
<body>
<h1>The nodeloom web UI has not been built</h1>
<p>The server is running and its API answers under <a href="/api/health"><code>/api/</code></a>,
but no editor bundle was found in <code>{dist}</code>.</p>
<p>Build it (needs Node.js 20 and npm):</p>
<pre>cd plugins/ui/web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>or start the server with <code>scripts/dev.sh serve</code>, which builds it first.
Then reload this page.</p>
</body>
</html>
"""


def render(dist: Path) -> str:
    return _TEMPLATE.format(dist=html.escape(str(dist)))
