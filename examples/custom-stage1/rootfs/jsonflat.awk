# jsonflat.awk: flattens a JSON document into one line per scalar, "<path>TAB<value>", e.g.
#   /apps/0/name	myapp
#   /apps/0/app/exec/0	/bin/myapp
# Object keys and array indexes make up the path. In strings, \" \\ and \/ are decoded; other
# escapes (\n, \t, \u00e9, ...) are kept as written, so that every value stays on one line.
# Numbers, true, false and null are printed as they appear. Exits 2 on malformed input.
BEGIN { RS = "\001" }
{ text = text $0 "\n" }
END {
  pos = 1
  n = length(text)
  value("")
  skipws()
  if (pos <= n) fail("trailing data")
}

function fail(msg) {
  printf "jsonflat: %s at offset %d\n", msg, pos > "/dev/stderr"
  exit 2
}

function skipws() {
  while (pos <= n && index(" \t\r\n", substr(text, pos, 1)) > 0) pos++
}

function str(   out, c, e) {
  pos++
  out = ""
  while (pos <= n) {
    c = substr(text, pos, 1)
    if (c == "\"") { pos++; return out }
    if (c == "\\") {
      e = substr(text, pos + 1, 1)
      pos += 2
      if (e == "\"" || e == "\\" || e == "/") out = out e
      else out = out "\\" e
      continue
    }
    out = out c
    pos++
  }
  fail("unterminated string")
}

function value(path,   c, key, i, lit) {
  skipws()
  c = substr(text, pos, 1)
  if (c == "{") {
    pos++
    skipws()
    if (substr(text, pos, 1) == "}") { pos++; return }
    for (;;) {
      skipws()
      if (substr(text, pos, 1) != "\"") fail("expected a key")
      key = str()
      skipws()
      if (substr(text, pos, 1) != ":") fail("expected ':'")
      pos++
      value(path "/" key)
      skipws()
      c = substr(text, pos, 1)
      pos++
      if (c == "}") return
      if (c != ",") fail("expected ',' or '}'")
    }
  }
  if (c == "[") {
    pos++
    skipws()
    if (substr(text, pos, 1) == "]") { pos++; return }
    for (i = 0; ; i++) {
      value(path "/" i)
      skipws()
      c = substr(text, pos, 1)
      pos++
      if (c == "]") return
      if (c != ",") fail("expected ',' or ']'")
    }
  }
  if (c == "\"") {
    print path "\t" str()
    return
  }
  lit = ""
  while (pos <= n && index(",:]} \t\r\n", substr(text, pos, 1)) == 0) {
    lit = lit substr(text, pos, 1)
    pos++
  }
  if (lit == "") fail("unexpected input")
  print path "\t" lit
}
