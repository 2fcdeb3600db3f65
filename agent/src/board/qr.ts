import qrcode from 'qrcode-generator';

/**
 * A QR code as rows of '1' (dark) and '0' (light) modules, for the page to
 * draw on a canvas: no markup and no image decoding in the browser.
 * Error correction M survives a scratched or sun-faded print of the board.
 */
export function qrModules(url: string): string[] {
  // Percent-encodes anything outside ASCII, so byte mode needs no charset guess.
  const href = new URL(url).href;
  const qr = qrcode(0, 'M');
  qr.addData(href);
  qr.make();
  const n = qr.getModuleCount();
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => (qr.isDark(r, c) ? '1' : '0')).join(''));
}
