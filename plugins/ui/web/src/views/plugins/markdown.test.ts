import { describe, expect, it } from 'vitest';
import { parseInline } from './markdown';

describe('parseInline', () => {
  it('reads reST double backticks as inline code', () => {
    expect(parseInline('The ``api`` plugin and `x`')).toEqual([
      { kind: 'text', text: 'The ' },
      { kind: 'code', text: 'api' },
      { kind: 'text', text: ' plugin and ' },
      { kind: 'code', text: 'x' },
    ]);
  });

  it('keeps bold, em and http links', () => {
    expect(parseInline('**b** *e* [l](https://x.org) [r](/rel)').map((s) => s.kind)).toEqual([
      'bold', 'text', 'em', 'text', 'link', 'text', 'text',
    ]);
  });
});
