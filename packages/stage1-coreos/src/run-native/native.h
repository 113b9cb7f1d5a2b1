/*
 * The native run entrypoint of stage1-coreos: shared declarations.
 *
 * The program does what src/run/run.ts does for the common case (see main.c) in two phases:
 * it first decides, without touching anything, whether the pod is one it implements exactly
 * (any doubt: fallback(), which execs the Node run with the same argv, env and fds); then it
 * acts, and a failure there is reported like the Node run reports it (fail(): one
 * `stage1: ...` line on stderr, exit status 254).
 */
#ifndef RUN_NATIVE_H
#define RUN_NATIVE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ util.c: strings */

/** A growable byte buffer, always NUL-terminated. */
typedef struct {
  char *s;
  size_t len, cap;
} buf_t;

void buf_add(buf_t *b, const char *s, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** A growable list of strings. */
typedef struct {
  char **v;
  size_t n, cap;
} strv_t;

void strv_push(strv_t *l, char *s);
bool strv_has(const strv_t *l, const char *s);

void *xmalloc(size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool starts_with(const char *s, const char *prefix);
bool ends_with(const char *s, const char *suffix);

/** path.posix.join of absolute `a` and `b` (b may be relative or empty), normalised. */
char *path_join(const char *a, const char *b);
/** path.posix.normalize of an absolute path (`.`/`..`/`//` removed, a trailing `/` kept). */
char *path_normalize(const char *p);
/** JSON.stringify of a string. */
void json_quote(buf_t *b, const char *s);

/* ------------------------------------------------------------------ util.c: errors */

/** The Node errno name (`EACCES`) and libuv's lowercase message for an errno value. */
const char *errno_name(int e);
const char *errno_message(int e);

/**
 * The entrypoint this process is (`run`, `app_add`, `app_start`, `app_stop`; NULL for a name that is none
 * of them): fallback() execs `stage1-coreos <g_entrypoint> <argv[1..]>` with these.
 */
extern const char *g_entrypoint;
extern int g_argc;
extern char **g_argv;
extern char **g_envp;
extern bool g_debug;
extern char *g_stage1; /* host path of the stage1 root */
extern bool g_acting;  /* past the decision: fallback is no longer possible */

/** Execs the Node entrypoint with the original argv, env and fds; never returns. */
void fallback(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/** Prints `stage1: <message>` and exits 254 (a failure after the decision). */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/** `--debug` line `stage1: <message>`. */
void debugf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** `stage1: warning: <message>`. */
void warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------ util.c: files */

/** The whole file (NUL-terminated, length in *len), or NULL with errno set. */
char *read_file(const char *path, size_t *len);
/** open(O_WRONLY|O_CREAT|O_TRUNC, mode) + write, as Node's writeFileSync; fail() on error. */
void write_file(const char *path, const void *data, size_t n, unsigned mode);
/** writeFileAtomicSync of @rktnetes/common: temp file, fsync, rename, fsync of the directory. */
void write_file_atomic(const char *path, const char *data, unsigned mode);
/** mkdirSync(path, {recursive: true, mode}); returns 0 or an errno. */
int mkdir_p(const char *path, unsigned mode);

/* ------------------------------------------------------------------ json.c */

typedef enum { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } jtype_t;

/** A JSON value; strings are UTF-8 without NUL; objects keep their keys in order (no duplicates). */
typedef struct jv {
  jtype_t type;
  char *str;       /* J_STRING */
  double num;      /* J_NUMBER */
  size_t n;        /* J_ARRAY, J_OBJECT: number of items */
  struct jv **items;
  char **keys;     /* J_OBJECT */
} jv_t;

/** Parses a whole document; NULL (with a reason in *why) when it is not JSON this program reads. */
jv_t *json_parse(const char *text, size_t len, const char **why);
/** An object's member, or NULL when absent or null (a null field counts as absent, as in Go). */
jv_t *json_get(const jv_t *obj, const char *key);

/* ------------------------------------------------------------------ the pod */

/** The run flags (src/run/run.ts RunArgs) the native path supports. */
typedef struct {
  char *uuid;
  bool debug;
  bool net_host; /* else none */
  char *hostname;
  bool disable_caps;
  bool disable_paths;
  bool disable_seccomp;
  bool ipc_parent;
  int lock_fd;
  int nets; /* --net flags seen */
} run_args_t;

/** One app, resolved as src/run/app.ts prepareApp does. */
typedef struct {
  char *name;
  char *root;    /* host path of its rootfs */
  char *workdir;
  unsigned long uid, gid;
  strv_t groups; /* decimal */
  strv_t argv;
  strv_t env;    /* NAME=value, composed */
  bool read_only_root;
  bool seccomp;
  bool nnp;
  /* a mutable pod's app (app/add): stdin, stdout, stderr modes (NULL: none), src/mutable/stdio.ts */
  const char *stdio[3];
  bool stdin_once;
  char *ext_log; /* the extra log file, a path in the stage1 root */
  bool pidns_private; /* the rktnetes.io/stage2/pid-namespace annotation is `private` */
} app_t;

typedef struct {
  run_args_t args;
  char *pod;      /* the pod directory (cwd) */
  char *stage1;   /* <pod>/stage1/rootfs */
  char *hostname;
  const char *resolv; /* --dns-conf-mode's resolv: NULL (default), host, stage0 or none */
  app_t *apps;
  size_t napps;
} pod_t;

/**
 * args.c: the Go flag scan of parseGoFlags: `-name`, `--name`, `--name=value`, `--name value`
 * (value flags), `--` ends the flags. `bools` and `values` are NULL-terminated flag names; `set`
 * gets each flag as it comes (its index in `bools`, or GO_VALUE_FLAG + its index in `values`,
 * with the value) and may refuse it by setting `*why`. Returns the index of the first
 * positional, or -1 with a reason in `*why` (unknown flag, bad syntax or boolean, missing value).
 */
#define GO_VALUE_FLAG 100
typedef void (*go_flag_fn)(void *ctx, int flag, const char *value, int boolean, const char **why);
int go_flags(int argc, char **argv, int start, const char *const *bools, const char *const *values, go_flag_fn set, void *ctx, const char **why);
/** args.c: run's flags (parseRunArgs), in these orders. */
extern const char *const RUN_BOOL_FLAGS[], *const RUN_VALUE_FLAGS[];
enum { RF_DEBUG, RF_INTERACTIVE, RF_DISABLE_CAPS, RF_DISABLE_PATHS, RF_DISABLE_SECCOMP, RF_MUTABLE };
enum { RF_NET = GO_VALUE_FLAG, RF_PRIVATE_USERS, RF_MDS_TOKEN, RF_LOCAL_CONFIG, RF_HOSTNAME, RF_DNS_CONF_MODE, RF_IPC };
/** args.c: parses argv and the environment; fallback() for anything not implemented. */
void parse_run_args(int argc, char **argv, run_args_t *out);
/** args.c: Go's strconv.ParseBool; -1 when `v` is not a Go boolean. */
int go_bool(const char *v);
/** args.c: a pod uuid in canonical form (lowercase, dashed). */
bool is_canonical_uuid(const char *s);
/** args.c: the hostname as the hosts entry and the spec carry it: anything unusual (blanks, non-ASCII) falls back. */
void check_hostname(const char *hostname);
/** args.c: whether RKTNETES_STAGE1_RUN=node asks for the Node implementation of every entrypoint. */
bool node_forced(void);
/** manifest.c: reads and checks the pod manifest and the apps' image manifests. */
void load_pod(pod_t *pod);
/**
 * manifest.c: app/add's part: the mutable pod's manifest checked whole, the app `name` loaded
 * as pod->apps[0]; returns its runtime app (fallback when it is not in the manifest).
 */
const jv_t *load_mutable_app(pod_t *pod, const char *name);
/** app.c: identity, program and environment of one app (from manifest.c's view of it). */
typedef struct {
  const char *name;
  const jv_t *app; /* the effective app object */
  bool read_only_root;
} app_src_t;
void resolve_app(pod_t *pod, const app_src_t *src, app_t *out);
/** app.c: resolveInRoot of src/run/rootfs.ts; NULL after 40 links (fallback or fail by caller). */
char *resolve_in_root(const char *root, const char *path);

/* ------------------------------------------------------------------ cgroups.c */

typedef struct {
  bool unified;
  strv_t dirs, joins, moves;
  strv_t write_paths, write_values;
  strv_t *app_procs; /* one list per app */
  char *subcgroup;
} cg_plan_t;

void plan_cgroups(const pod_t *pod, cg_plan_t *plan);
/**
 * app/add (createAppCgroups of src/mutable/cgroups.ts): the plan of pod->apps[0] below the pod
 * cgroups recorded in `runtime-config`, whichever cgroup this process is in. create_cgroups()
 * then makes it: its writes are the v1 devices lists (a unified host has none for an app
 * without resource isolators).
 */
void plan_app_cgroups(const pod_t *pod, cg_plan_t *plan);
void create_cgroups(const cg_plan_t *plan);
/** Starts the kernel's cgroup migration lock on its slow path early (a no-op move of this process). */
void warm_cgroup_lock(void);
/** Joins the pod cgroups from a thread (the init's own joins stay authoritative). */
void join_in_background(const cg_plan_t *plan);
void join_wait(void);

/* ------------------------------------------------------------------ mounts.c */

/** The /etc binds of hostsBinds (`hosts=default`, pod->resolv), the hosts entry added. */
typedef struct {
  char *source, *path;
  bool if_missing, read_only;
} bind_t;

void hosts_binds(const pod_t *pod, bind_t *binds, size_t *n);
void enter_private_mount_ns(void);
void bind_self(const char *dir);
void setup_app_fs(const app_t *app, const bind_t *binds, size_t nbinds);

/* ------------------------------------------------------------------ spec.c */

char *format_init_spec(const pod_t *pod, const cg_plan_t *plan);
/** formatAppSpec: `rkt/spec/<app>` of pod->apps[0], a mutable pod's app. */
char *format_app_spec(const pod_t *pod, const cg_plan_t *plan);

/* ------------------------------------------------------------------ crossing.c: mutable pods */

/** parseAppName of @rktnetes/stage1-abi: an AC name, lowercase alphanumerics and single dashes. */
bool is_app_name(const char *s);
/** The Node bin's --debug: any argument that is `--debug` or `--debug=<true>`, one dash or two. */
bool debug_asked(int argc, char **argv);

/** What the crossing entrypoints take of a mutable pod's run argv (`rkt/run-args`). */
typedef struct {
  bool mutable, disable_caps, disable_paths, disable_seccomp;
  bool private_users, mds_token; /* given, not empty */
  const char *resolv, *hosts;    /* --dns-conf-mode (default: `default`) */
  char *hostname;                /* NULL: rkt-<uuid> */
  strv_t nets;
  char *uuid;
} mutable_run_t;

/**
 * readRunArgs of src/mutable/pod.ts: `rkt/run-args` (of g_stage1) holds `{"argv": [...]}`, a run
 * argv that parseRunArgs accepts, with `--mutable` in effect; fallback() for anything else.
 */
void check_mutable_pod(mutable_run_t *out);

typedef struct {
  bool ok;
  char *data;           /* ok */
  char *code, *message; /* error */
} reply_t;

/**
 * ctlRequest of src/mutable/control.ts: one request line on PID 1's control socket (found
 * relative to the pod directory, the working directory) and its one reply line; fail() when
 * the socket cannot be reached or closes without a reply.
 */
void ctl_request(const char *pod, const char *request, reply_t *r);

/* ------------------------------------------------------------------ the entrypoints */

/** main.c: `run`. */
int run_main(int argc, char **argv);
/** crossing.c: `app_start` and `app_stop` of a mutable pod (src/mutable/ops.ts). */
int app_start_main(int argc, char **argv);
int app_stop_main(int argc, char **argv);
/** add.c: `app_add` of a mutable pod (src/mutable/add.ts). */
int app_add_main(int argc, char **argv);

#endif
