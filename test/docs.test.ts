/**
 * Keeps the contract docs honest: every error code the sources raise is in
 * docs/exit-codes.md, every doc README.md links to exists, and every stage1 annotation name
 * `@rktnetes/stage1-abi` defines is in docs/stage1-interface.md. Reads files only.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(root, p), 'utf8');

/**
 * Source directories not checked yet: work in progress whose codes are documented when it
 * lands (the CRI server).
 */
const IN_PROGRESS: string[] = [];

/** Every `.ts` file below `dir` (relative to the repository root). */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = `${dir}/${name}`;
    if (statSync(join(root, p)).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The non-test sources: `packages/<pkg>/src/**\/*.ts`, minus {@link IN_PROGRESS}. */
function sourceFiles(): string[] {
  return readdirSync(join(root, 'packages'))
    .filter((pkg) => existsSync(join(root, 'packages', pkg, 'src')))
    .flatMap((pkg) => tsFiles(`packages/${pkg}/src`))
    .filter((f) => !IN_PROGRESS.some((d) => f.startsWith(d)));
}

/**
 * How errors are made: the `@rktnetes/errors` constructors, and package-local helpers that
 * take the code (or its tail) as an argument. `arg` is the position of the code, `prefix` what
 * the helper puts before it; a helper with `defined` counts only in files where that pattern
 * finds its definition (other files may have functions of the same name).
 */
const MAKERS: ReadonlyArray<{ name: string; arg: number; prefix?: string; defined?: RegExp }> = [
  { name: 'new RktError', arg: 0 },
  { name: 'userError', arg: 0 },
  { name: 'systemError', arg: 0 },
  { name: 'usageError', arg: 0 },
  { name: 'internalError', arg: 0 },
  { name: 'wrap', arg: 1 },
  { name: 'cniError', arg: 1 }, // cni-bridge: cniError(cniCode, code, message)
  { name: 'argsError', arg: 1, prefix: 'stage1.args.' }, // stage1-abi: argsError(entrypoint, what, message)
  // stage0's argument parsers: usage('invalid-value', ...) is cli.invalid-value
  { name: 'usage', arg: 0, prefix: 'cli.', defined: /const usage = \(code: string\b[^\n]*usageError\(`cli\.\$\{code\}`/ },
  // cni-bridge host-local: failure(code, message)
  { name: 'failure', arg: 0, defined: /function failure\(code: string\b[^\n]*\n\s*return cniError\(/ },
  // stage0 fetch: userError or systemError by HTTP status
  { name: 'make', arg: 0, defined: /const make = [^\n]*\? userError : systemError/ },
];

/** Splits the text after `(` into its first top-level arguments (enough for a code). */
function leadingArgs(text: string, count: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length && args.length < count; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) {
      if (depth === 0) {
        args.push(text.slice(start, i).trim());
        break;
      }
      depth--;
    } else if (c === ',' && depth === 0) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return args;
}

/** A code found in the sources: literal, or a template (`sys.${name}` as `sys.<>`). */
interface Found {
  code: string;
  template: boolean;
  where: string;
}

/** `<anything>` -> `<>`: how families are compared. */
const familyKey = (s: string) => s.replace(/<[^<>]*>/g, '<>');

function extractCodes(): Found[] {
  const found: Found[] = [];
  for (const file of sourceFiles()) {
    const src = read(file);
    for (const m of MAKERS) {
      if (m.defined && !m.defined.test(src)) continue;
      const re = new RegExp(`(?<![\\w.])${m.name.replace(' ', '\\s+')}\\(`, 'g');
      for (const hit of src.matchAll(re)) {
        const arg = leadingArgs(src.slice(hit.index + hit[0].length), m.arg + 1)[m.arg];
        if (arg === undefined) continue;
        const where = `${file}:${src.slice(0, hit.index).split('\n').length}`;
        const prefix = m.prefix ?? '';
        const literals = [...arg.matchAll(/'([^'\\]*)'/g)].map((l) => l[1]!);
        // a literal, or a choice between literals (`ref ? 'a' : 'b'`)
        if (literals.length > 0 && /^('[^']*'|[^'`]*\?\s*'[^']*'\s*:\s*'[^']*')$/.test(arg)) {
          for (const l of literals) found.push({ code: prefix + l, template: false, where });
        } else if (/^`[^`]*`$/.test(arg)) {
          found.push({ code: familyKey(prefix + arg.slice(1, -1).replace(/\$\{[^}]*\}/g, '<>')), template: true, where });
        }
        // anything else (a parameter, `e.code`, a constant) passes a code made elsewhere
      }
    }
  }
  return found;
}

/** The backquoted words of the doc, and the families listed in its "Code families" section. */
function documented(): { codes: Set<string>; families: Set<string> } {
  const doc = read('docs/exit-codes.md');
  const codes = new Set([...doc.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!));
  const section = /^## Code families\n([\s\S]*?)(?=^## |$(?![\s\S]))/m.exec(doc)?.[1] ?? '';
  // every backquoted pattern in the first column of the table
  const firstCells = [...section.matchAll(/^\|([^|\n]*)\|/gm)].map((m) => m[1]!);
  const families = new Set(firstCells.flatMap((c) => [...c.matchAll(/`([^`]+)`/g)].map((m) => familyKey(m[1]!))));
  return { codes, families };
}

test('the code extraction sees the error codes of every kind of maker', (t) => {
  const codes = new Set(extractCodes().map((f) => f.code));
  // one per maker, to notice when a pattern stops matching
  for (const c of ['pod.not-found', 'sys.<>', 'cli.invalid-value', 'stage1.args.unknown-flag', 'cni.ipam-exhausted', 'cni.version', 'fetch.http-status', 'fetch.ambiguous', 'app.add', 'schema.invalid', 'store.closed']) {
    t.true(codes.has(c), `${c} not extracted`);
  }
  t.true(codes.size > 250);
});

test('every error code raised in the sources is in docs/exit-codes.md', (t) => {
  const { codes, families } = documented();
  t.true(families.size > 0, 'docs/exit-codes.md has no "Code families" table');
  const missing = new Map<string, string>();
  for (const f of extractCodes()) {
    const ok = f.template ? families.has(f.code) : codes.has(f.code);
    if (!ok && !missing.has(f.code)) missing.set(f.code, f.where);
  }
  t.deepEqual(
    [...missing].map(([code, where]) => `${code} (${where})`),
    [],
    'codes missing from docs/exit-codes.md (templates need a row in "Code families")',
  );
});

test('every doc README.md links to exists', (t) => {
  const readme = read('README.md');
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/i.test(l) && !l.startsWith('#'));
  t.true(links.length > 0);
  for (const link of links) {
    const path = link.replace(/#.*$/, '');
    t.true(existsSync(join(root, path)), `README.md links to ${link}, which does not exist`);
  }
});

test('the docs link only to files that exist', (t) => {
  for (const doc of ['docs/stage1-interface.md', 'docs/on-disk-format.md', 'docs/pod-lifecycle.md', 'docs/exit-codes.md']) {
    for (const m of read(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/i.test(link) || link.startsWith('#')) continue;
      const target = join(root, dirname(doc), link.replace(/#.*$/, ''));
      t.true(existsSync(target), `${doc} links to ${link} (${relative(root, target)}), which does not exist`);
    }
  }
});

test('every stage1 annotation of @rktnetes/stage1-abi is in docs/stage1-interface.md', (t) => {
  const names = new Set<string>();
  for (const file of tsFiles('packages/stage1-abi/src')) {
    for (const m of read(file).matchAll(/coreos\.com\/rkt\/stage1\/[A-Za-z0-9/_-]*[A-Za-z0-9_-]/g)) names.add(m[0]);
  }
  t.true(names.size >= 10, [...names].join(' '));
  const doc = read('docs/stage1-interface.md');
  for (const n of names) t.true(doc.includes(`\`${n}\``), `${n} is not in docs/stage1-interface.md`);
});
