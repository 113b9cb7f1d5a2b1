import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  formatExactTime,
  humanizeBytes,
  humanizeTime,
  layoutCells,
  parseOptionList,
  parseOutputFormat,
  parseSortOrder,
  renderJSONOutput,
  renderTable,
  shortenID,
  sortRows,
  toJSON,
  type Column,
} from '../src/output';
import { formatGoDuration, parseGoDuration } from '../src/image/duration';
import { cleanArchivePath } from '../src/image/tarfs';

test('layoutCells pads every column but the last to tab stops with tabs, like rkt', (t) => {
  const text = layoutCells([
    ['ID', 'NAME', 'SIZE'],
    ['sha512-0123456789ab', 'x', '1 B'],
  ]);
  // column 1 is 19 wide -> 24; "ID" needs 3 tabs to reach it, the id one tab
  t.is(text, 'ID\t\t\tNAME\tSIZE\nsha512-0123456789ab\tx\t1 B\n');
  const spaced = layoutCells([['a', 'b'], ['ccc', 'd']], 'spaces');
  t.is(spaced, 'a       b\nccc     d\n');
  t.is(layoutCells([]), '');
});

test('renderTable selects columns in order and honours noLegend', (t) => {
  type Row = { a: string; b: string };
  const rows: Row[] = [{ a: '1', b: '2' }];
  const cols: Column<Row>[] = [
    { field: 'b', header: 'B', cell: (r) => r.b },
    { field: 'a', header: 'A', cell: (r) => r.a },
  ];
  t.is(renderTable(rows, cols), 'B\tA\n2\t1\n');
  t.is(renderTable(rows, cols, { noLegend: true }), '2\t1\n');
  t.is(renderTable([], cols, { noLegend: true }), '');
});

test('toJSON writes bigints exactly, skips undefined members and indents with the given string', (t) => {
  const ns = 1_732_000_000_123n * 1_000_000n;
  t.is(toJSON({ a: ns, b: undefined, c: [1, 'x', null, true], d: {} }), `{"a":${ns},"c":[1,"x",null,true],"d":{}}`);
  t.is(toJSON([{ a: 1 }], '\t'), '[\n\t{\n\t\t"a": 1\n\t}\n]');
  t.is(toJSON([]), '[]');
  t.is(renderJSONOutput([], 'json-pretty'), '[]\n');
  t.deepEqual(JSON.parse(toJSON({ s: 'quote " and \n' })), { s: 'quote " and \n' });
});

test('option lists are validated, lowercased and de-duplicated; errors name the flag', (t) => {
  t.deepEqual(parseOptionList('fields', 'ID, name,id', ['id', 'name']), ['id', 'name']);
  const e = t.throws(() => parseOptionList('fields', 'id,nope', ['id', 'name']));
  t.true(hasCode(e, 'cli.option-list'));
  t.regex(e.message, /^--fields: unknown value "nope" \(valid: id, name\)$/);
  t.throws(() => parseOptionList('sort', ' , ', ['id']), { message: /--sort: at least one/ });
});

test('output format and order flags', (t) => {
  t.is(parseOutputFormat(''), 'tabbed');
  t.is(parseOutputFormat(undefined), 'tabbed');
  t.is(parseOutputFormat('json'), 'json');
  t.is(parseOutputFormat('json-pretty'), 'json-pretty');
  t.throws(() => parseOutputFormat('yaml'), { message: /--format: invalid value "yaml"/ });
  t.is(parseSortOrder('DESC'), 'desc');
  t.throws(() => parseSortOrder('up'), { message: /--order: invalid value "up"/ });
});

test('sortRows sorts by several keys, either way, and keeps ties in input order', (t) => {
  const rows = [
    { n: 'b', s: 1, i: 0 },
    { n: 'a', s: 2, i: 1 },
    { n: 'b', s: 1, i: 2 },
    { n: 'a', s: 1, i: 3 },
  ];
  const key = (r: (typeof rows)[number], f: string) => (f === 'n' ? r.n : r.s);
  t.deepEqual(sortRows(rows, ['n', 's'], 'asc', key).map((r) => r.i), [3, 1, 0, 2]);
  t.deepEqual(sortRows(rows, ['s'], 'desc', key).map((r) => r.i), [1, 0, 2, 3]);
  t.deepEqual(sortRows([{ b: true }, { b: false }], ['b'], 'asc', (r) => r.b), [{ b: false }, { b: true }]);
});

test('humanizeTime speaks like rkt', (t) => {
  const now = new Date('2024-06-01T12:00:00Z');
  const ago = (ms: number) => humanizeTime(new Date(now.getTime() - ms), now);
  t.is(ago(500), 'now');
  t.is(ago(1500), '1 second ago');
  t.is(ago(45_000), '45 seconds ago');
  t.is(ago(90_000), '1 minute ago');
  t.is(ago(3 * 60_000), '3 minutes ago');
  t.is(ago(5 * 3_600_000), '5 hours ago');
  t.is(ago(36 * 3_600_000), '1 day ago');
  t.is(ago(6 * 86_400_000), '6 days ago');
  t.is(ago(10 * 86_400_000), '1 week ago');
  t.is(ago(400 * 86_400_000), '1 year ago');
  t.is(ago(-120_000), '2 minutes from now');
  t.is(ago(50 * 365 * 86_400_000), 'a long while ago');
});

test('humanizeBytes uses IEC units with one decimal below 10', (t) => {
  t.is(humanizeBytes(0), '0 B');
  t.is(humanizeBytes(9), '9 B');
  t.is(humanizeBytes(512), '512 B');
  t.is(humanizeBytes(1536), '1.5 KiB');
  t.is(humanizeBytes(12 * 1024 * 1024), '12 MiB');
  t.is(humanizeBytes(143 * 1024 * 1024 + 1000), '143 MiB');
});

test('formatExactTime follows Go layout 2006-01-02 15:04:05.999 -0700 MST', (t) => {
  const s = formatExactTime(new Date(Date.UTC(2015, 11, 14, 11, 30, 33, 650)));
  t.regex(s, /^2015-12-1\d \d\d:\d\d:33\.65 [+-]\d{4} \S+$/);
  t.regex(formatExactTime(new Date(Date.UTC(2015, 0, 1))), /:00 [+-]\d{4} /);
});

test('shortenID keeps the algorithm and 12 digits', (t) => {
  t.is(shortenID(`sha512-${'a'.repeat(128)}`), `sha512-${'a'.repeat(12)}`);
  t.is(shortenID('sha512-abc'), 'sha512-abc');
});

test('Go durations', (t) => {
  t.is(parseGoDuration('24h', 'grace-period'), 86_400_000);
  t.is(parseGoDuration('24h0m0s', 'grace-period'), 86_400_000);
  t.is(parseGoDuration('1h30m', 'x'), 5_400_000);
  t.is(parseGoDuration('1.5s', 'x'), 1500);
  t.is(parseGoDuration('300ms', 'x'), 300);
  t.is(parseGoDuration('0', 'x'), 0);
  t.is(parseGoDuration('0s', 'x'), 0);
  for (const bad of ['', '24', 'h', '1d', '-1h', '1h x']) {
    const e = t.throws(() => parseGoDuration(bad, 'grace-period'), undefined, bad);
    t.true(hasCode(e, 'cli.duration'));
  }
  t.is(formatGoDuration(86_400_000), '24h0m0s');
  t.is(formatGoDuration(90_000), '1m30s');
  t.is(formatGoDuration(0), '0s');
});

test('archive paths are cleaned and unsafe ones rejected', (t) => {
  t.is(cleanArchivePath('./rootfs//etc/'), 'rootfs/etc');
  t.is(cleanArchivePath('/rootfs/x'), 'rootfs/x');
  t.is(cleanArchivePath('rootfs/../../x'), undefined);
  t.is(cleanArchivePath('./'), undefined);
});
