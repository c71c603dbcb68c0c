// A deliberately small Markdown subset for plugin READMEs: headings, lists, code fences and
// paragraphs. Everything stays text (React escapes it), so a README can never inject markup.

export type Block =
  | { kind: 'heading'; level: number; text: string }
  | { kind: 'code'; text: string }
  | { kind: 'list'; ordered: boolean; items: string[] }
  | { kind: 'paragraph'; text: string };

export function parseMarkdown(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^\s*```/.test(line)) {
      const body: string[] = [];
      i += 1;
      while (i < lines.length && !/^\s*```/.test(lines[i])) body.push(lines[i++]);
      i += 1;
      blocks.push({ kind: 'code', text: body.join('\n') });
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      blocks.push({ kind: 'heading', level: heading[1].length, text: heading[2].trim() });
      i += 1;
      continue;
    }
    const bullet = /^\s*([-*+]|\d+[.)])\s+/;
    if (bullet.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const items: string[] = [];
      while (i < lines.length && bullet.test(lines[i])) items.push(lines[i++].replace(bullet, ''));
      blocks.push({ kind: 'list', ordered, items });
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*```|\s*([-*+]|\d+[.)])\s)/.test(lines[i])) para.push(lines[i++].trim());
    blocks.push({ kind: 'paragraph', text: para.join(' ') });
  }
  return blocks;
}

export type Span = { kind: 'text' | 'code' | 'bold' | 'em'; text: string } | { kind: 'link'; text: string; href: string };

/** Inline `code` (and reST ``code``, as plugin docstrings write it), **bold**, *em* and [links](http…);
 * other syntax is left as typed. */
export function parseInline(text: string): Span[] {
  const spans: Span[] = [];
  const pattern = /``(.+?)``|`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    if (m.index > last) spans.push({ kind: 'text', text: text.slice(last, m.index) });
    const code = m[1] ?? m[2];
    if (code !== undefined) spans.push({ kind: 'code', text: code });
    else if (m[3] !== undefined) spans.push({ kind: 'bold', text: m[3] });
    else if (m[4] !== undefined) spans.push({ kind: 'em', text: m[4] });
    else if (/^https?:\/\//i.test(m[6])) spans.push({ kind: 'link', text: m[5], href: m[6] });
    // Non-http links (javascript:, relative paths into the distribution) stay plain text.
    else spans.push({ kind: 'text', text: m[5] });
    last = m.index + m[0].length;
  }
  if (last < text.length) spans.push({ kind: 'text', text: text.slice(last) });
  return spans;
}
