/**
 * Output for an 80-column console (a technician's laptop over a serial
 * cable, the Pi's own text console): widths in columns, long lines wrapped
 * at spaces, table cells cut with an ellipsis.
 */
export const CONSOLE_WIDTH = 80;

/** Columns a string takes: combining marks (Vietnamese tone marks in NFD) take none. */
export function columns(s: string): number {
  let n = 0;
  for (const ch of s.normalize('NFC')) if (!/\p{M}/u.test(ch)) n++;
  return n;
}

/** At most `width` columns, an ellipsis marking the cut. */
export function truncate(s: string, width: number): string {
  const text = s.normalize('NFC');
  if (columns(text) <= width) return text;
  const chars = [...text];
  let out = '';
  for (const ch of chars) {
    if (columns(out + ch) > width - 1) break;
    out += ch;
  }
  return out + '…';
}

/** `s` padded with spaces to `width` columns (cut first if longer). */
export function padTo(s: string, width: number): string {
  const cut = truncate(s, width);
  return cut + ' '.repeat(Math.max(0, width - columns(cut)));
}

/**
 * Every line of `text` in at most `width` columns: a longer one is broken at
 * spaces, its continuation indented two more than the line itself (so a
 * wrapped item stays visibly one item); a word longer than a line is cut.
 */
export function wrap(text: string, width = CONSOLE_WIDTH): string {
  return text
    .split('\n')
    .map((line) => wrapLine(line.normalize('NFC'), width))
    .join('\n');
}

function wrapLine(line: string, width: number): string {
  if (columns(line) <= width) return line;
  const indent = /^ */.exec(line)![0].length;
  const hang = ' '.repeat(Math.min(indent + 2, Math.floor(width / 3)));
  // Words keep the spaces after them, so aligned columns inside a line survive the wrap.
  const words = line.slice(indent).split(/(?<= )(?=[^ ])/);
  const out: string[] = [];
  let current = ' '.repeat(indent);
  let fresh = true;
  for (let word of words) {
    if (columns(current + word.trimEnd()) <= width) {
      current += word;
      fresh = false;
      continue;
    }
    if (!fresh) {
      out.push(current);
      current = hang;
    }
    while (columns(current + word.trimEnd()) > width) {
      const room = width - columns(current);
      const chars = [...word];
      out.push(current + chars.slice(0, room).join(''));
      word = chars.slice(room).join('');
      current = hang;
    }
    current += word;
    fresh = false;
  }
  out.push(current);
  return out.map((l) => l.trimEnd()).join('\n');
}
