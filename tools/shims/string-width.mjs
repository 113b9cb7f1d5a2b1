// Bundle-time stand-in for the string-width package used by yargs' help layout. The original
// compiles a very large emoji regular expression when loaded (~15 ms of every rkt start); rkt's
// help text is plain text, so counting code points after removing ANSI escapes is enough.
const ansi = /\u001B\[[0-9;]*[A-Za-z]/g;
export default function stringWidth(s) {
  if (typeof s !== 'string' || s.length === 0) return 0;
  let n = 0;
  for (const ch of s.replace(ansi, '')) {
    const c = ch.codePointAt(0);
    if (c < 0x20 || (c >= 0x7f && c < 0xa0) || (c >= 0x300 && c < 0x370)) continue;
    n += c >= 0x1100 && (c <= 0x115f || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1faff) || (c >= 0x20000 && c <= 0x3fffd)) ? 2 : 1;
  }
  return n;
}
