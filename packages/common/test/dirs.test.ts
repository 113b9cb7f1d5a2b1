import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { DEFAULT_DATA_DIR, DEFAULT_LOCAL_CONFIG_DIR, DEFAULT_SYSTEM_CONFIG_DIR, configDirs, resolveDirs, xdgUserConfigDir } from '@rktnetes/common';

test('defaults are rkt defaults, with no user config dir', (t) => {
  const d = resolveDirs({}, {}, '/');
  t.deepEqual(d, { dataDir: '/var/lib/rkt', systemConfigDir: '/usr/lib/rkt', localConfigDir: '/etc/rkt', userConfigDir: '' });
  t.is(DEFAULT_DATA_DIR, '/var/lib/rkt');
  t.is(DEFAULT_SYSTEM_CONFIG_DIR, '/usr/lib/rkt');
  t.is(DEFAULT_LOCAL_CONFIG_DIR, '/etc/rkt');
  t.deepEqual(configDirs(d), ['/usr/lib/rkt', '/etc/rkt']);
});

test('--dir beats RKT_DIR beats the default; relative paths are made absolute', (t) => {
  t.is(resolveDirs({}, { RKT_DIR: '/srv/rkt' }, '/').dataDir, '/srv/rkt');
  t.is(resolveDirs({ dir: 'data' }, { RKT_DIR: '/srv/rkt' }, '/home/u').dataDir, '/home/u/data');
  const d = resolveDirs({ localConfig: 'etc', userConfig: '/u/rkt', systemConfig: '/sys/rkt' }, {}, '/x');
  t.deepEqual(configDirs(d), ['/sys/rkt', '/x/etc', '/u/rkt']);
});

test('an explicitly empty directory flag is a usage error', (t) => {
  const e = t.throws(() => resolveDirs({ dir: '' }, {}, '/'));
  t.true(hasCode(e, 'dirs.empty'));
  t.is((e as { kind?: string }).kind, 'usage');
});

test('xdgUserConfigDir follows XDG_CONFIG_HOME, else ~/.config', (t) => {
  t.is(xdgUserConfigDir({ XDG_CONFIG_HOME: '/cfg', HOME: '/home/u' }), '/cfg/rkt');
  t.is(xdgUserConfigDir({ XDG_CONFIG_HOME: 'relative', HOME: '/home/u' }), '/home/u/.config/rkt');
  t.is(xdgUserConfigDir({ HOME: '/home/u' }), '/home/u/.config/rkt');
});
