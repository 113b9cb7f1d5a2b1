/**
 * stage0 configuration: reading and merging `auth.d`, `paths.d`, `stage1.d` across the system,
 * local and user directories, the credentials sent with requests, and `rkt config`.
 */
import test from 'ava';
import { join } from 'node:path';
import { tmpDir } from '@rktnetes/testkit';
import { authHeaders, awsSignatureV4, configToJSON, dockerCredentialsFor, guessAwsRegion, readConfig } from '../src/config';
import { rktEnv, writeJson } from './helpers/http-server';

const auth = (domains: string[], type: string, credentials: Record<string, string>) => ({ rktKind: 'auth', rktVersion: 'v1', domains, type, credentials });

async function dirs(t: import('ava').ExecutionContext): Promise<{ sys: string; local: string; user: string }> {
  const root = await tmpDir('config', t);
  return { sys: join(root, 'sys'), local: join(root, 'local'), user: join(root, 'user') };
}

test('auth entries override per domain: system, then local, then user', async (t) => {
  const d = await dirs(t);
  writeJson(join(d.sys, 'auth.d', 'basic.json'), auth(['foo.com', 'bar.com', 'baz.com'], 'basic', { user: 'sysUser', password: 'sysPassword' }));
  writeJson(join(d.local, 'auth.d', 'tectonic.json'), auth(['bar.com'], 'oauth', { token: 'bar-token' }));
  writeJson(join(d.user, 'auth.d', 'mine.json'), auth(['foo.com'], 'basic', { user: 'user', password: 'password' }));
  writeJson(join(d.user, 'auth.d', 'README'), { not: 'json config: ignored (no .json suffix)' });
  const cfg = readConfig([d.sys, d.local, d.user]);
  t.deepEqual(configToJSON(cfg).stage0.slice(0, 3), [
    { rktVersion: 'v1', rktKind: 'auth', domains: ['bar.com'], type: 'oauth', credentials: { token: 'bar-token' } },
    { rktVersion: 'v1', rktKind: 'auth', domains: ['baz.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } },
    { rktVersion: 'v1', rktKind: 'auth', domains: ['foo.com'], type: 'basic', credentials: { user: 'user', password: 'password' } },
  ]);
  t.deepEqual(authHeaders(cfg, 'GET', new URL('https://foo.com/x.aci')), { authorization: `Basic ${Buffer.from('user:password').toString('base64')}` });
  t.deepEqual(authHeaders(cfg, 'GET', new URL('https://bar.com/x.aci')), { authorization: 'Bearer bar-token' });
  t.deepEqual(authHeaders(cfg, 'GET', new URL('http://foo.com/x.aci')), {}, 'never over plain http');
  t.deepEqual(authHeaders(cfg, 'GET', new URL('https://foo.com:8443/x.aci')), { authorization: `Basic ${Buffer.from('user:password').toString('base64')}` });
  t.deepEqual(authHeaders(cfg, 'GET', new URL('https://other.com/')), {});
});

test('a host:port domain matches only that port', async (t) => {
  const d = await dirs(t);
  writeJson(join(d.local, 'auth.d', 'a.json'), auth(['reg.local:5000'], 'oauth', { token: 't' }));
  const cfg = readConfig([d.local]);
  t.deepEqual(authHeaders(cfg, 'GET', new URL('https://reg.local:5000/a')), { authorization: 'Bearer t' });
  t.deepEqual(authHeaders(cfg, 'GET', new URL('https://reg.local/a')), {});
});

test('dockerAuth entries are parsed and override per registry', async (t) => {
  const d = await dirs(t);
  writeJson(join(d.sys, 'auth.d', 'docker.json'), { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['registry-1.docker.io', 'quay.io'], credentials: { user: 'foo', password: 'bar' } });
  writeJson(join(d.local, 'auth.d', 'quay.json'), { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['quay.io'], credentials: { user: 'baz', password: 'quux' } });
  const cfg = readConfig([d.sys, d.local]);
  t.deepEqual(dockerCredentialsFor(cfg, 'quay.io'), { user: 'baz', password: 'quux' });
  t.deepEqual(dockerCredentialsFor(cfg, 'registry-1.docker.io'), { user: 'foo', password: 'bar' });
  t.is(dockerCredentialsFor(cfg, 'gcr.io'), undefined);
  t.deepEqual(
    configToJSON(cfg).stage0.filter((e) => e.rktKind === 'dockerAuth'),
    [
      { rktVersion: 'v1', rktKind: 'dockerAuth', registries: ['quay.io'], credentials: { user: 'baz', password: 'quux' } },
      { rktVersion: 'v1', rktKind: 'dockerAuth', registries: ['registry-1.docker.io'], credentials: { user: 'foo', password: 'bar' } },
    ],
  );
});

test('paths and stage1 entries override field by field', async (t) => {
  const d = await dirs(t);
  writeJson(join(d.sys, 'paths.d', 'p.json'), { rktKind: 'paths', rktVersion: 'v1', data: '/opt/rkt-stuff/data', 'stage1-images': '/usr/lib/rkt/s1' });
  writeJson(join(d.local, 'paths.d', 'p.json'), { rktKind: 'paths', rktVersion: 'v1', data: '/home/me/rkt' });
  writeJson(join(d.sys, 'stage1.d', 'coreos.json'), {
    rktKind: 'stage1',
    rktVersion: 'v1',
    name: 'coreos.com/rkt/stage1-coreos',
    version: '0.15.0+git',
    location: '/usr/libexec/rkt/stage1-coreos.aci',
  });
  writeJson(join(d.local, 'stage1.d', 'loc.json'), { rktKind: 'stage1', rktVersion: 'v1', location: 'https://example.com/coreos-stage1.aci' });
  const cfg = readConfig([d.sys, d.local]);
  t.deepEqual(cfg.paths, { data: '/home/me/rkt', stage1Images: '/usr/lib/rkt/s1' });
  t.deepEqual(cfg.stage1, { name: 'coreos.com/rkt/stage1-coreos', version: '0.15.0+git', location: 'https://example.com/coreos-stage1.aci' });
  t.deepEqual(configToJSON(cfg).stage0, [
    { rktVersion: 'v1', rktKind: 'paths', data: '/home/me/rkt', 'stage1-images': '/usr/lib/rkt/s1' },
    { rktVersion: 'v1', rktKind: 'stage1', name: 'coreos.com/rkt/stage1-coreos', version: '0.15.0+git', location: 'https://example.com/coreos-stage1.aci' },
  ]);
});

test('invalid configuration files are errors naming the file', async (t) => {
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['auth.d', 'dup.json', null, /auth for domain "a.com" is already specified/],
    ['auth.d', 'kind.json', { rktKind: 'paths', rktVersion: 'v1' }, /kind "paths" does not belong in this directory/],
    ['auth.d', 'nover.json', { rktKind: 'auth' }, /no rktVersion specified/],
    ['auth.d', 'v9.json', { rktKind: 'auth', rktVersion: 'v9' }, /no parser for kind "auth" version "v9"/],
    ['auth.d', 'type.json', auth(['a.com'], 'kerberos', {}), /unknown auth type "kerberos"/],
    ['auth.d', 'nopass.json', auth(['a.com'], 'basic', { user: 'u' }), /password not specified/],
    ['auth.d', 'nodomains.json', auth([], 'oauth', { token: 't' }), /no domains specified/],
    ['paths.d', 'rel.json', { rktKind: 'paths', rktVersion: 'v1', data: 'relative/dir' }, /data directory must be an absolute path/],
    ['stage1.d', 'half.json', { rktKind: 'stage1', rktVersion: 'v1', name: 'x.com/s1' }, /name specified, but version is missing/],
    ['stage1.d', 'scheme.json', { rktKind: 'stage1', rktVersion: 'v1', location: 'ftp://x/s1.aci' }, /location scheme "ftp"/],
    ['stage1.d', 'relloc.json', { rktKind: 'stage1', rktVersion: 'v1', location: 'stage1.aci' }, /relative path or a URL without scheme/],
  ];
  for (const [sub, file, doc, re] of cases) {
    const d = await dirs(t);
    const path = join(d.local, sub, file);
    if (doc === null) {
      writeJson(join(d.local, sub, 'a-first.json'), auth(['a.com'], 'oauth', { token: 't' }));
      writeJson(path, auth(['a.com'], 'oauth', { token: 'u' }));
    } else writeJson(path, doc);
    const e = t.throws(() => readConfig([d.local]), undefined, file);
    t.regex(e?.message ?? '', new RegExp(`^configuration file ${path.replace(/[.]/g, '\\.')}: `), file);
    t.regex(e?.message ?? '', re, file);
  }
});

test('AWS v4 signatures match the AWS documentation example', (t) => {
  const headers = awsSignatureV4('GET', new URL('https://examplebucket.s3.amazonaws.com/test.txt'), { range: 'bytes=0-9' }, {
    accessKeyID: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    region: 'us-east-1',
    now: new Date('2013-05-24T00:00:00Z'),
  });
  t.is(headers['x-amz-date'], '20130524T000000Z');
  t.is(
    headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
  );
  t.is(guessAwsRegion('bucket.s3-eu-west-1.amazonaws.com'), 'eu-west-1');
  t.is(guessAwsRegion('bucket.s3.eu-central-1.amazonaws.com'), 'eu-central-1');
  t.is(guessAwsRegion('example.com'), 'us-east-1');
});

test('rkt config prints the merged configuration as JSON', async (t) => {
  const env = await rktEnv(t);
  writeJson(join(env.systemConfig, 'auth.d', 'a.json'), auth(['foo.com', 'bar.com'], 'basic', { user: 'sys', password: 'pw' }));
  writeJson(join(env.userConfig, 'auth.d', 'a.json'), auth(['foo.com'], 'oauth', { token: 'tok' }));
  writeJson(join(env.localConfig, 'paths.d', 'p.json'), { rktKind: 'paths', rktVersion: 'v1', 'stage1-images': '/s1' });
  const r = await env.run(['config']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^\{\n\t"stage0": \[\n\t\t\{/);
  t.deepEqual(JSON.parse(r.stdout), {
    stage0: [
      { rktVersion: 'v1', rktKind: 'auth', domains: ['bar.com'], type: 'basic', credentials: { user: 'sys', password: 'pw' } },
      { rktVersion: 'v1', rktKind: 'auth', domains: ['foo.com'], type: 'oauth', credentials: { token: 'tok' } },
      { rktVersion: 'v1', rktKind: 'paths', data: '', 'stage1-images': '/s1' },
      { rktVersion: 'v1', rktKind: 'stage1', name: '', version: '', location: '' },
    ],
  });
  const compact = await env.run(['config', '--pretty-print=false']);
  t.is(compact.stdout.trim().split('\n').length, 1);
  t.deepEqual(JSON.parse(compact.stdout), JSON.parse(r.stdout));
});

test('rkt config with a broken file fails with one line naming it', async (t) => {
  const env = await rktEnv(t);
  const path = join(env.localConfig, 'auth.d', 'bad.json');
  writeJson(path, { rktKind: 'auth', rktVersion: 'v1', domains: ['x.com'], type: 'basic', credentials: {} });
  const r = await env.run(['config']);
  t.is(r.code, 254);
  t.is(r.stdout, '');
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, new RegExp(`^rkt: configuration file ${path.replace(/[.]/g, '\\.')}: user not specified`));
});
