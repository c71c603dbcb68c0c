"""What the UI plugin tests share: the plugins to load and the files of a fake built bundle."""

UI_PLUGINS = {"api": "nodeloom.plugins.api_routes", "ui": "nodeloom.plugins.ui"}
INDEX_HTML = '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>'
ASSET_JS = "console.log('nodeloom');\n"
ASSET_CSS = "body{color:red}\n"
