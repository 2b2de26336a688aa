# dsctl observe: prints everything the planner needs in ONE round trip. Read-only, except for
# a cache of facts that change only with a reboot or a new podman binary (in $C, on a tmpfs).
# Output: one record a line, "kind field…"; parsed by src/observe.rs.
# Set by dsctl before this text: $FULL adds unit file contents and older specs (diff, history);
# $RAN is the file every host script renames at its end, $INV systemd's invocation links;
# $KNOWN lists "daemonset:revision" pairs whose spec dsctl holds (their dsspec is left out);
# $JL/$JB bound a failed unit's journal tail (lines/bytes); $S is the state directory, $C the
# cache directory and $UNIT_GLOBS the unit files to list (all from src/layout.rs);
# dsctl_token, alive and dsctl_left_runs are defined before this text.
# Cost: this runs on every host on every cron run, so a no-op forks as few programs as it can
# (no podman: ~50 ms of CPU per call); shell builtins do the rest.
echo "dsctl-observe 1"
# Host facts (src/host_facts.rs): the downward API's status.hostIP(s) and the node's
# allocatable resources, and the kubernetes.io/arch and kubernetes.io/os node labels.
# shellcheck disable=SC2086
set -- $SSH_CONNECTION
echo "hostip ${3:-}"
ips=$(ip -o addr show scope global 2>/dev/null)
while read -r _ i _ a _; do [ -n "$a" ] && echo "hostaddr $i ${a%%/*}"; done <<EOF
$ips
EOF
while read -r k v _; do [ "$k" = MemTotal: ] && echo "memtotal $v" && break; done </proc/meminfo
# podman from $PATH without a fork.
p=
IFS0=$IFS IFS=:
for d in $PATH; do [ -x "${d:-.}/podman" ] && p=${d:-.}/podman && break; done
IFS=$IFS0
# One stat for the clock (a new /proc/self is stamped now), podman's identity, the storage
# file system and every unit file and recorded copy (their mtimes: a running instance older
# than its file is stale). The files' lines, less the last field, are dsctl_state's first
# lines (src/scripts/state.sh): printed as `state` records, they make the plan's token.
# shellcheck disable=SC2086
st=$(stat -L -c '%n %d:%i:%s:%.9Y %Y' -- /proc/self "${p:-/nonexistent}" /var/lib/containers /run/systemd/generator /etc/systemd/system /etc/systemd/system/*.wants "$RAN" $UNIT_GLOBS "$S"/daemonsets/*/units/* 2>/dev/null)
now= pk= sd= list= key= times= uk=
while IFS= read -r l; do
  [ -n "$l" ] || continue
  t=${l##* } l=${l% *}
  sig=${l##* } f=${l% *}
  case $f in
  /proc/self) now=$t ;;
  "$p") pk=$sig ;;
  /var/lib/containers) sd=${sig%%:*} ;;
  /run/systemd/generator | /etc/systemd/system | /etc/systemd/system/*.wants | "$RAN") uk="$uk$l;" ;;
  *)
    echo "state $l"
    list="$list $f" key="$key$l;"
    case $f in "$S"/*) ;; *) times="${times}filetime $f $t
" ;; esac
    ;;
  esac
done <<EOF
$st
EOF
echo "now ${now:-$(date +%s)}"
# The podman version, the kernel, the CPU count and the storage size, learned once per podman
# binary, boot and storage device (a file system grown in place shows at the next of these).
fk="$B ${pk:--} ${sd:--}"
ck= cu= cn= cv= cs=
[ -r "$C/facts" ] && { read -r ck; read -r cu; read -r cn; read -r cv; read -r cs; } 2>/dev/null <"$C/facts"
if [ "$ck" != "$fk" ]; then
  cu="$(uname -s) $(uname -m)"
  cn=$(nproc 2>/dev/null)
  cv=$([ -n "$p" ] && "$p" --version 2>/dev/null | awk '{print $NF}')
  cs=$(df -Pk /var/lib/containers 2>/dev/null | { read -r _; read -r _ v _; echo "$v"; })
  mkdir -p -m 700 "$C" && printf '%s\n' "$fk" "$cu" "$cn" "${cv:--}" "${cs:--}" >"$C/facts.$$" && mv -f "$C/facts.$$" "$C/facts"
fi
echo "uname $cu"
echo "cpus $cn"
echo "podman ${cv:--}"
[ "$cs" = - ] && cs=
echo "storage $cs"
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
  h=-; [ ! -f "$d/halted" ] || h=halted
  echo "state ds $n $r $m $h"
  echo "ds $n $r $c $t $m $v"
  for h in "$d"history/*/; do
    [ -d "$h" ] || continue
    r=${h%/}; r=${r##*/}
    rd "$h/number" 0; m=$v; rd "$h/recorded" 0; t=$v; b64 "$h/cause"
    echo "dshist $n $r $m $t $v"
    [ -n "$FULL" ] && [ -f "$h/spec.json" ] && echo "dshistspec $n $r $(base64 -w0 <"$h/spec.json")"
  done
  [ -f "$d/halted" ] && echo "dshalted $n $(base64 -w0 <"$d/halted")"
  # The applied spec: what auto-revert and `rollout undo` go back to. Not one that dsctl
  # holds itself ($KNOWN: a no-op forks no base64).
  case " $KNOWN " in
  *" $n:$r "*) ;;
  *) [ -f "$d/spec.json" ] && echo "dsspec $n $(base64 -w0 <"$d/spec.json")" ;;
  esac
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
  # One block of Key=Value lines per unit, blocks separated by an empty line: from systemctl
  # (~15 ms of host CPU, most of a no-op's), or from the cache of its last answer when every
  # unit was loaded, active and reloaded then and nothing that could change that has moved
  # since: the same boot, unit files and records; no daemon-reload (it makes the generator
  # directory anew), no unit enabled, disabled or masked (the directories they live in), no
  # host script run (SCRIPT_RAN), and the same units with a current invocation (systemd
  # removes a unit's invocation link when it stops or fails). A restart outside dsctl keeps
  # the set, and only makes an instance fresher than the cache says. An hour at most, and
  # never for `diff` or `get` ($FULL), which read systemd itself.
  for f in "$INV"/invocation:dsctl[_-]*; do [ -L "$f" ] && uk="$uk ${f##*/}"; done
  uk="$B $key $uk" props= cached=
  if [ -z "$FULL" ] && [ -r "$C/units" ]; then
    {
      read -r k; read -r x
      if [ "$k" = "$uk" ] && [ "${now:-0}" -lt "${x:-0}" ]; then
        cached=1
        while IFS= read -r l; do props="${props:+$props
}$l"; done
      fi
    } 2>/dev/null <"$C/units"
  fi
  if [ -z "$cached" ]; then
    # shellcheck disable=SC2086
    props=$(systemctl show --timestamp=unix -p Id,LoadState,ActiveState,SubState,UnitFileState,NRestarts,ActiveEnterTimestamp,NeedDaemonReload,ExecMainStatus -- $units 2>/dev/null)
    case $props in
    # Emptied, not left: a key seen before must not bring back what it held then.
    *LoadState=[!l]* | *ActiveState=[!a]* | *ActiveState=activating* | *NeedDaemonReload=yes*)
      [ ! -s "$C/units" ] || : 2>/dev/null >"$C/units" ;;
    *) [ -z "$FULL" ] && [ -n "$props" ] && [ -n "$now" ] && mkdir -p -m 700 "$C" &&
        printf '%s\n' "$uk" "$((now + 3600))" "$props" >"$C/units.$$" && mv -f "$C/units.$$" "$C/units" ;;
    esac
  fi
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
