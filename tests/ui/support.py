"""What the UI plugin tests share: the files of a fake built bundle."""

INDEX_HTML = '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>'
ASSET_JS = "console.log('nodeloom');\n"
ASSET_CSS = "body{color:red}\n"
