import { createElement, type ReactNode } from 'react';
import { parseInline, parseMarkdown, type Block } from './markdown';

export function inline(text: string): ReactNode[] {
  return parseInline(text).map((span, i) => {
    switch (span.kind) {
      case 'code':
        return <code key={i}>{span.text}</code>;
      case 'bold':
        return <strong key={i}>{span.text}</strong>;
      case 'em':
        return <em key={i}>{span.text}</em>;
      case 'link':
        return (
          <a key={i} href={span.href} target="_blank" rel="noreferrer noopener">
            {span.text}
          </a>
        );
      default:
        return <span key={i}>{span.text}</span>;
    }
  });
}

function renderBlock(block: Block, key: number): ReactNode {
  switch (block.kind) {
    case 'heading':
      return createElement(`h${Math.min(6, block.level + 2)}`, { key, style: { margin: '8px 0 4px' } }, inline(block.text));
    case 'code':
      return (
        <pre key={key} style={{ background: 'rgba(128,128,128,0.15)', padding: 8, overflow: 'auto' }}>
          {block.text}
        </pre>
      );
    case 'list': {
      const items = block.items.map((item, i) => <li key={i}>{inline(item)}</li>);
      return block.ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>;
    }
    default:
      return (
        <p key={key} style={{ margin: '4px 0' }}>
          {inline(block.text)}
        </p>
      );
  }
}

/** One line of inline Markdown, for short texts such as a plugin's description. */
export function InlineMarkdown({ text }: { text: string }) {
  return <>{inline(text)}</>;
}

export function Markdown({ source }: { source: string }) {
  return <div className="nl-markdown">{parseMarkdown(source).map(renderBlock)}</div>;
}
