/*
 * A small JSON parser (RFC 8259) for the manifests: objects, arrays, strings with every escape
 * (\u with surrogate pairs), numbers, true, false, null. It is stricter than JSON.parse where
 * the difference could change the outcome, so that what it accepts the Node run reads the same
 * way: invalid UTF-8, a byte-order mark, NUL in a string, lone surrogates and duplicate keys
 * are refused (the caller then leaves the pod to the Node run).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "native.h"

#define MAX_DEPTH 64

typedef struct {
  const unsigned char *p, *end;
  const char *why;
} parser_t;

static jv_t *value(parser_t *ps, int depth);

static void ws(parser_t *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static jv_t *bad(parser_t *ps, const char *why) {
  if (!ps->why) ps->why = why;
  return NULL;
}

static jv_t *node(jtype_t t) {
  jv_t *v = xmalloc(sizeof *v);
  v->type = t;
  return v;
}

/* Appends code point `cp` as UTF-8. */
static void put_utf8(buf_t *b, unsigned cp) {
  char o[4];
  size_t n;
  if (cp < 0x80) o[0] = (char)cp, n = 1;
  else if (cp < 0x800) o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  else if (cp < 0x10000) o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  else o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  buf_add(b, o, n);
}

/* Length of the valid UTF-8 sequence at p (a non-ASCII lead byte), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned cp;
  size_t n;
  if (*p >= 0xc2 && *p <= 0xdf) n = 2, cp = *p & 0x1f;
  else if (*p >= 0xe0 && *p <= 0xef) n = 3, cp = *p & 0x0f;
  else if (*p >= 0xf0 && *p <= 0xf4) n = 4, cp = *p & 0x07;
  else return 0;
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

static int hex4(parser_t *ps, unsigned *out) {
  if (ps->end - ps->p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = ps->p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1;
  }
  ps->p += 4;
  *out = v;
  return 0;
}

static char *string(parser_t *ps) {
  buf_t b = {0};
  buf_add(&b, "", 0);
  ps->p++; /* the opening quote */
  for (;;) {
    if (ps->p >= ps->end) return (bad(ps, "unterminated string"), NULL);
    unsigned char c = *ps->p;
    if (c == '"') {
      ps->p++;
      return b.s;
    }
    if (c < 0x20) return (bad(ps, "control character in a string"), NULL);
    if (c >= 0x80) {
      size_t n = utf8_len(ps->p, ps->end);
      if (!n) return (bad(ps, "invalid UTF-8"), NULL);
      buf_add(&b, (const char *)ps->p, n);
      ps->p += n;
      continue;
    }
    if (c != '\\') {
      buf_add(&b, (const char *)ps->p++, 1);
      continue;
    }
    if (++ps->p >= ps->end) return (bad(ps, "unterminated string"), NULL);
    c = *ps->p++;
    const char *simple = NULL;
    switch (c) {
      case '"': simple = "\""; break;
      case '\\': simple = "\\"; break;
      case '/': simple = "/"; break;
      case 'b': simple = "\b"; break;
      case 'f': simple = "\f"; break;
      case 'n': simple = "\n"; break;
      case 'r': simple = "\r"; break;
      case 't': simple = "\t"; break;
      case 'u': {
        unsigned cp, lo;
        if (hex4(ps, &cp) < 0) return (bad(ps, "bad \\u escape"), NULL);
        if (cp >= 0xdc00 && cp <= 0xdfff) return (bad(ps, "lone surrogate"), NULL);
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') return (bad(ps, "lone surrogate"), NULL);
          ps->p += 2;
          if (hex4(ps, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) return (bad(ps, "lone surrogate"), NULL);
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0) return (bad(ps, "NUL in a string"), NULL);
        put_utf8(&b, cp);
        continue;
      }
      default:
        return (bad(ps, "bad escape"), NULL);
    }
    buf_puts(&b, simple);
  }
}

static jv_t *number(parser_t *ps) {
  const unsigned char *s = ps->p;
  if (ps->p < ps->end && *ps->p == '-') ps->p++;
  if (ps->p >= ps->end) return bad(ps, "bad number");
  if (*ps->p == '0') ps->p++;
  else if (*ps->p >= '1' && *ps->p <= '9')
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  else return bad(ps, "bad number");
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return bad(ps, "bad number");
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return bad(ps, "bad number");
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  }
  char tmp[64];
  size_t n = (size_t)(ps->p - s);
  if (n >= sizeof tmp) return bad(ps, "number too long"); /* not a number a manifest has */
  memcpy(tmp, s, n);
  tmp[n] = 0;
  jv_t *v = node(J_NUMBER);
  v->num = strtod(tmp, NULL);
  return v;
}

static bool literal(parser_t *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
  ps->p += n;
  return true;
}

/* Appends to a growing item list. */
static void push(jv_t *v, size_t *cap, jv_t *item, char *key) {
  if (v->n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    jv_t **items = xmalloc(*cap * sizeof *items);
    char **keys = xmalloc(*cap * sizeof *keys);
    if (v->n) {
      memcpy(items, v->items, v->n * sizeof *items);
      if (v->keys) memcpy(keys, v->keys, v->n * sizeof *keys);
    }
    free(v->items);
    free(v->keys);
    v->items = items;
    v->keys = keys;
  }
  v->items[v->n] = item;
  v->keys[v->n] = key;
  v->n++;
}

static jv_t *container(parser_t *ps, int depth, bool object) {
  if (depth > MAX_DEPTH) return bad(ps, "nested too deeply");
  jv_t *v = node(object ? J_OBJECT : J_ARRAY);
  size_t cap = 0;
  char close = object ? '}' : ']';
  ps->p++;
  ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return v;
  }
  for (;;) {
    char *key = NULL;
    ws(ps);
    if (object) {
      if (ps->p >= ps->end || *ps->p != '"') return bad(ps, "expected a key");
      if (!(key = string(ps))) return NULL;
      for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return bad(ps, "duplicate key");
      ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') return bad(ps, "expected ':'");
      ps->p++;
    }
    jv_t *item = value(ps, depth + 1);
    if (!item) return NULL;
    push(v, &cap, item, key);
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      return v;
    }
    return bad(ps, "expected ',' or a closing bracket");
  }
}

static jv_t *value(parser_t *ps, int depth) {
  ws(ps);
  if (ps->p >= ps->end) return bad(ps, "unexpected end");
  switch (*ps->p) {
    case '{': return container(ps, depth, true);
    case '[': return container(ps, depth, false);
    case '"': {
      char *s = string(ps);
      if (!s) return NULL;
      jv_t *v = node(J_STRING);
      v->str = s;
      return v;
    }
    case 't': return literal(ps, "true") ? node(J_TRUE) : bad(ps, "bad literal");
    case 'f': return literal(ps, "false") ? node(J_FALSE) : bad(ps, "bad literal");
    case 'n': return literal(ps, "null") ? node(J_NULL) : bad(ps, "bad literal");
    default: return number(ps);
  }
}

jv_t *json_parse(const char *text, size_t len, const char **why) {
  parser_t ps = {(const unsigned char *)text, (const unsigned char *)text + len, NULL};
  jv_t *v = value(&ps, 0);
  if (v) {
    ws(&ps);
    if (ps.p != ps.end) v = bad(&ps, "trailing characters");
  }
  if (!v && why) *why = ps.why;
  return v;
}

jv_t *json_get(const jv_t *obj, const char *key) {
  if (!obj || obj->type != J_OBJECT) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i]->type == J_NULL ? NULL : obj->items[i];
  return NULL;
}
