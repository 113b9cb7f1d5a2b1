/*
 * The native entrypoints of stage1-coreos, one static program chosen by the name it is run as
 * (the image's /run, and /app_add, /app_start and /app_stop, symlinks to it): `run` (main.c),
 * `app_add` (add.c), `app_start` and `app_stop` (crossing.c). Under any other name it is the Node bundle's business: it execs
 * `stage1-coreos` (the bundle's CommonJS executable) with its arguments unchanged, which then takes the entrypoint from its
 * first argument, as `stage1-coreos <entrypoint> ...` does.
 */
#define _GNU_SOURCE
#include <string.h>

#include "native.h"

int main(int argc, char **argv, char **envp) {
  g_argc = argc, g_argv = argv, g_envp = envp;
  const char *name = argc > 0 ? argv[0] : "";
  const char *slash = strrchr(name, '/');
  if (slash) name = slash + 1;
  static const struct {
    const char *name;
    int (*main)(int, char **);
  } ENTRYPOINTS[] = {{"run", run_main}, {"app_add", app_add_main}, {"app_start", app_start_main}, {"app_stop", app_stop_main}};
  for (size_t i = 0; i < sizeof ENTRYPOINTS / sizeof ENTRYPOINTS[0]; i++) {
    if (strcmp(name, ENTRYPOINTS[i].name) == 0) {
      g_entrypoint = ENTRYPOINTS[i].name;
      return ENTRYPOINTS[i].main(argc, argv);
    }
  }
  fallback("not a native entrypoint: %s", name);
}
