/**
 * stage0 configuration (`auth`, `dockerAuth`, `paths`, `stage1` kinds) read from the system,
 * local and user configuration directories, and the `rkt config` output.
 */
import type { Context } from '../cli/context';
import { readConfig, type Stage0Config } from './config';

export {
  readConfig,
  readConfigDir,
  mergeConfig,
  emptyConfig,
  configToJSON,
  type Stage0Config,
  type AuthCredentials,
  type BasicCredentials,
  type ConfigEntry,
} from './config';
export { authFor, authHeaders, dockerCredentialsFor, awsSignatureV4, guessAwsRegion } from './auth';

/** The configuration directories of a command, lowest precedence first: system, local, user. */
export function configDirs(ctx: Pick<Context, 'systemConfig' | 'localConfig' | 'userConfig'>): string[] {
  return [ctx.systemConfig, ctx.localConfig, ctx.userConfig].filter((d) => d !== '');
}

/** The merged configuration of a command's configuration directories. */
export function loadConfig(ctx: Pick<Context, 'systemConfig' | 'localConfig' | 'userConfig'>): Stage0Config {
  return readConfig(configDirs(ctx));
}
