# dsctl observe: prints everything the planner needs in ONE round trip. Read-only, except for
# a cache of facts that change only with a reboot or a new podman binary (in $C, on a tmpfs).
# Output: one record a line, "kind field…"; parsed by src/observe.rs.
# Set by dsctl before this text: $FULL adds unit file contents and older specs (diff, history);
# $JL/$JB bound a failed unit's journal tail (lines/bytes); $S is the state directory, $C the
# cache directory and $UNIT_GLOBS the unit files to list (all from src/layout.rs);
# dsctl_token, alive and dsctl_left_runs are defined before this text.
# Cost: this runs on every host on every cron run, so a no-op forks as few programs as it can
# (no podman: ~50 ms of CPU per call); shell builtins do the rest.
echo "dsctl-observe 1"
# First, before any record is read: a change after this point makes the token stale, never a
# plan from newer records pass an older token (src/plan_token.rs).
echo "token $(dsctl_token)"
# Host facts (src/host_facts.rs): the downward API's status.hostIP(s) and the node's
# allocatable resources, and the kubernetes.io/arch and kubernetes.io/os node labels.
# shellcheck disable=SC2086
set -- $SSH_CONNECTION
echo "hostip ${3:-}"
ip -o addr show scope global 2>/dev/null | while read -r _ i _ a _; do echo "hostaddr $i ${a%%/*}"; done
while read -r k v _; do [ "$k" = MemTotal: ] && echo "memtotal $v" && break; done </proc/meminfo
df -Pk /var/lib/containers 2>/dev/null | { read -r _; read -r _ v _; echo "storage ${v:-}"; }
# One stat for the clock (a new /proc/self is stamped now), podman's identity and every unit
# file and recorded copy (their mtimes: a running instance older than its file is stale).
p=$(command -v podman 2>/dev/null)
# shellcheck disable=SC2086
st=$(stat -L -c '%n %d:%i:%s:%.9Y %Y' -- /proc/self "${p:-/nonexistent}" $UNIT_GLOBS "$S"/daemonsets/*/units/* 2>/dev/null)
now= pk= list= key= times=
while read -r f sig t; do
  case $f in
  /proc/self) now=$t ;;
  "$p") pk=$sig ;;
  "$S"/*) list="$list $f" key="$key$f $sig;" ;;
  ?*) list="$list $f" key="$key$f $sig;" times="${times}filetime $f $t
" ;;
  esac
done <<EOF
$st
EOF
echo "now ${now:-$(date +%s)}"
# The podman version, the kernel and the CPU count, learned once per podman binary and boot.
read -r boot 2>/dev/null </proc/sys/kernel/random/boot_id
fk="$boot $pk"
ck= cu= cn= cv=
[ -r "$C/facts" ] && { read -r ck; read -r cu; read -r cn; read -r cv; } 2>/dev/null <"$C/facts"
if [ "$ck" != "$fk" ]; then
  cu="$(uname -s) $(uname -m)"
  cn=$(nproc 2>/dev/null)
  cv=$([ -n "$p" ] && "$p" --version 2>/dev/null | awk '{print $NF}')
  mkdir -p -m 700 "$C" && printf '%s\n' "$fk" "$cu" "$cn" "${cv:--}" >"$C/facts.$$" && mv -f "$C/facts.$$" "$C/facts"
fi
echo "uname $cu"
echo "cpus $cn"
echo "podman ${cv:--}"
if [ -x /usr/lib/systemd/system-generators/podman-system-generator ] || [ -x /usr/libexec/podman/quadlet ]; then
  echo "quadlet yes"
else
  echo "quadlet no"
fi
# A host script writes lock.holder once it holds the lock and removes it on exit, so only a
# holder file (a script running, or one killed before its trap ran) costs a flock.
if [ -e "$S/lock.holder" ] && ! flock -n "$S/lock" true 2>/dev/null; then
  echo "lock held $(head -c 200 "$S/lock.holder" 2>/dev/null | tr '\n' ' ')"
else
  echo "lock free"
fi
# rd FILE DEFAULT: sets $v to the file's first line, or DEFAULT (a builtin read, no fork).
rd() { v=; read -r v 2>/dev/null <"$1"; v=${v:-$2}; }
# b64 FILE: sets $v to the file in base64, forking base64 only for a file that has content.
b64() { v=; [ -s "$1" ] && v=$(base64 -w0 <"$1"); }
for d in "$S"/daemonsets/*/; do
  [ -d "$d" ] || continue
  n=${d%/}; n=${n##*/}
  rd "$d/revision" -; r=$v; rd "$d/created" 0; c=$v; rd "$d/recorded" 0; t=$v
  rd "$d/number" 0; m=$v; b64 "$d/cause"
  echo "ds $n $r $c $t $m $v"
  for h in "$d"history/*/; do
    [ -d "$h" ] || continue
    r=${h%/}; r=${r##*/}
    rd "$h/number" 0; m=$v; rd "$h/recorded" 0; t=$v; b64 "$h/cause"
    echo "dshist $n $r $m $t $v"
    [ -n "$FULL" ] && [ -f "$h/spec.json" ] && echo "dshistspec $n $r $(base64 -w0 <"$h/spec.json")"
  done
  [ -f "$d/halted" ] && echo "dshalted $n $(base64 -w0 <"$d/halted")"
  # The applied spec: what auto-revert and `rollout undo` go back to.
  [ -f "$d/spec.json" ] && echo "dsspec $n $(base64 -w0 <"$d/spec.json")"
done
# Every unit file and every recorded copy by its sha256, from one sha256sum, or from the
# cache when none changed since (same paths, devices, inodes, sizes and mtimes to the ns).
sums() {
  while read -r sum f; do
    case $f in
    "$S"/daemonsets/*/units/*) r=${f#"$S"/daemonsets/}; echo "dsunit ${r%%/*} ${f##*/} $sum" ;;
    ?*) echo "file $f $sum" ;;
    esac
  done
}
if [ -n "$list" ]; then
  sk=
  [ -r "$C/sums" ] && read -r sk 2>/dev/null <"$C/sums"
  if [ "$sk" = "$key" ]; then
    { read -r sk; sums; } <"$C/sums"
  else
    # shellcheck disable=SC2086
    h=$(sha256sum -- $list 2>/dev/null)
    printf '%s\n' "$h" | sums
    mkdir -p -m 700 "$C" && printf '%s\n' "$key" "$h" >"$C/sums.$$" && mv -f "$C/sums.$$" "$C/sums"
  fi
fi
printf '%s' "$times"
units=
# The service a unit file yields: x.pod -> x-pod.service (Quadlet), x.container -> x.service.
svc() { case $1 in *.pod) u="${1%.pod}-pod.service" ;; *) u="${1%.*}.service" ;; esac; }
for f in $UNIT_GLOBS "$S"/daemonsets/*/units/*; do
  [ -f "$f" ] || continue
  svc "${f##*/}"
  case " $units " in *" $u "*) ;; *) units="$units $u" ;; esac
done
if [ -n "$units" ]; then
  if [ -n "$FULL" ]; then
    for f in $UNIT_GLOBS; do [ -f "$f" ] && echo "content $f $(base64 -w0 <"$f")"; done
  fi
  # One block of Key=Value lines per unit, blocks separated by an empty line.
  # shellcheck disable=SC2086
  props=$(systemctl show --timestamp=unix -p Id,LoadState,ActiveState,SubState,UnitFileState,NRestarts,ActiveEnterTimestamp,NeedDaemonReload,ExecMainStatus -- $units 2>/dev/null)
  echo units
  printf '%s\n' "$props"
  echo unitsend
  # The tail of each failed unit's journal: the container's own output (SyslogIdentifier=%N), bounded.
  case $props in
  *ActiveState=failed*)
    # shellcheck disable=SC2086
    for u in $(systemctl list-units --state=failed --plain --no-legend -- $units 2>/dev/null | awk '{print $1}'); do
      echo "journal $u $(journalctl -u "$u" -t "${u%.service}" -n "$JL" --no-pager -o cat 2>/dev/null | tail -c "$JB" | base64 -w0)"
    done
    ;;
  esac
  # Containers with their IDs, for `get` and `describe`: only with $FULL, as a podman call
  # costs a no-op about 50 ms of host CPU.
  if [ -n "$FULL" ]; then
    podman ps -a --filter label=dsctl.daemonset --format 'container	{{.Names}}	{{.State}}	{{.Image}}	{{index .Labels "dsctl.revision"}}	{{index .Labels "dsctl.daemonset"}}	{{index .Labels "dsctl.container"}}	{{.PodName}}	{{.ID}}' 2>/dev/null
  fi
fi
# Scripts of earlier runs whose connection was lost (src/detached.rs).
dsctl_left_runs
echo "end"
