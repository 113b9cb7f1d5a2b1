/**
 * The probe: a POSIX sh script that reports what the process running it sees, one `key=value`
 * per line. It needs nothing but busybox applets and `/proc`; busybox images install it at
 * `/probe`. Everything is read from `/proc/$$` (the shell itself, which is the app process), so
 * subshells do not skew pids or credentials.
 *
 * Arguments (all optional, in any order):
 *   --write FILE    also write the report to FILE, then print `write=ok` or `write=error`
 *   --sleep SECONDS sleep after reporting; SIGTERM/SIGINT end the sleep, print `signal=TERM|INT`
 *                   and exit 143/130
 *   --exit N        exit with status N (default 0)
 *
 * Output keys: probe.version, pid, ppid, uid, euid, suid, fsuid, gid, egid, groups, CapInh,
 * CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs, Seccomp, hostname, cwd, umask, ns.<type>,
 * env.<NAME> (value with `\` and newline escaped as `\\` and `\n`), mount=<target> <fstype>
 * <options> (target escaped as in /proc/mounts), cgroup=<line of /proc/self/cgroup>, probe.end.
 */
export const PROBE_SCRIPT = String.raw`#!/bin/sh
# rktnetes probe: prints what this process sees, one key=value per line
exit_code=0
write_file=
sleep_for=
while [ $# -gt 0 ]; do
  case $1 in
    --exit|--write|--sleep)
      if [ $# -lt 2 ]; then echo "probe: $1 needs a value" >&2; exit 2; fi
      case $1 in
        --exit) exit_code=$2 ;;
        --write) write_file=$2 ;;
        --sleep) sleep_for=$2 ;;
      esac
      shift 2 ;;
    *) echo "probe: unknown argument $1" >&2; exit 2 ;;
  esac
done

report() {
  echo "probe.version=1"
  echo "pid=$$"
  if [ -r /proc/$$/status ]; then
    while IFS=':	 ' read -r key val; do
      case $key in
        PPid) echo "ppid=$val" ;;
        Uid) set -- $val; echo "uid=$1"; echo "euid=$2"; echo "suid=$3"; echo "fsuid=$4" ;;
        Gid) set -- $val; echo "gid=$1"; echo "egid=$2" ;;
        Groups) echo "groups=$val" ;;
        CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp) echo "$key=$val" ;;
      esac
    done < /proc/$$/status
  else
    echo "error=no /proc/$$/status"
  fi
  if [ -r /proc/sys/kernel/hostname ]; then
    read -r h < /proc/sys/kernel/hostname
    echo "hostname=$h"
  else
    echo "hostname=$(hostname)"
  fi
  printf 'cwd='; pwd -P
  echo "umask=$(umask)"
  for ns in cgroup ipc mnt net pid user uts; do
    if [ -e /proc/$$/ns/$ns ]; then echo "ns.$ns=$(readlink /proc/$$/ns/$ns)"; fi
  done
  if [ -r /proc/$$/environ ]; then
    soh=$(printf '\001')
    tr '\n\000' '\001\n' < /proc/$$/environ | sed -e 's/\\/\\\\/g' -e "s/$soh/\\\\n/g" -e 's/^/env./'
  fi
  if [ -r /proc/$$/mounts ]; then
    while read -r src target fstype opts rest; do
      echo "mount=$target $fstype $opts"
    done < /proc/$$/mounts
  fi
  if [ -r /proc/$$/cgroup ]; then
    while IFS= read -r line; do echo "cgroup=$line"; done < /proc/$$/cgroup
  fi
  echo "probe.end=1"
}

report
if [ -n "$write_file" ]; then
  if { report > "$write_file"; } 2>/dev/null; then echo "write=ok"; else echo "write=error"; fi
fi
if [ -n "$sleep_for" ]; then
  sleeper=
  trap 'kill $sleeper 2>/dev/null; echo "signal=TERM"; exit 143' TERM
  trap 'kill $sleeper 2>/dev/null; echo "signal=INT"; exit 130' INT
  sleep "$sleep_for" &
  sleeper=$!
  wait $sleeper
fi
exit "$exit_code"
`;
