// The announcements' small formatting language, rendered into elements — never through innerHTML, so nothing a
// publisher types can run: blank-line paragraphs, **bold**, *italic*, [text](https://…) links, "- " and "1. " lists.
import type { ComponentChildren, JSX } from 'preact';

const INLINE = /\*\*([^*\n]+?)\*\*|\*([^*\n]+?)\*|\[([^\]\n]+)\]\(([^)\s]+)\)/g;
const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
const BULLET = /^\s*[-*]\s+/;
const NUMBERED = /^\s*\d+[.)]\s+/;

/** Bold, italic and links inside one line; anything else stays text. */
export function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    const at = m.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    if (m[1] !== undefined) out.push(<strong>{inline(m[1])}</strong>);
    else if (m[2] !== undefined) out.push(<em>{inline(m[2])}</em>);
    else if (SAFE_LINK.test(m[4] ?? '')) {
      out.push(
        <a href={m[4]} target="_blank" rel="noopener noreferrer">
          {m[3]}
        </a>,
      );
    } else out.push(m[0]);
    last = at + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function block(lines: string[], key: number): JSX.Element {
  if (lines.every((l) => BULLET.test(l))) {
    return (
      <ul key={key}>
        {lines.map((l, i) => (
          <li key={i}>{inline(l.replace(BULLET, ''))}</li>
        ))}
      </ul>
    );
  }
  if (lines.every((l) => NUMBERED.test(l))) {
    return (
      <ol key={key}>
        {lines.map((l, i) => (
          <li key={i}>{inline(l.replace(NUMBERED, ''))}</li>
        ))}
      </ol>
    );
  }
  return (
    <p key={key}>
      {lines.flatMap((l, i) => (i === 0 ? inline(l) : [<br key={`br${i}`} />, ...inline(l)]))}
    </p>
  );
}

/** An announcement's body as paragraphs and lists. */
export function Markup({ text }: { text: string }): JSX.Element {
  const blocks = text
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((b) => b.split('\n').filter((l) => l.trim() !== ''))
    .filter((b) => b.length > 0);
  return <div class="markup">{blocks.map(block)}</div>;
}
