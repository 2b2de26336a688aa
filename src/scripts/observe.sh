# dsctl observe: prints everything the planner needs in ONE round trip. Read-only.
# Output: one record a line, "kind field…"; parsed by src/observe.rs.
# Set by dsctl before this text: $FULL adds unit file contents and older specs (diff, history);
# $JL/$JB bound a failed unit's journal tail (lines/bytes);
# $S is the state directory and $UNIT_GLOBS the unit files to list (both from src/layout.rs);
# dsctl_token, alive and dsctl_left_runs are defined before this text.
echo "dsctl-observe 1"
# First, before any record is read: a change after this point makes the token stale, never a
# plan from newer records pass an older token (src/plan_token.rs).
echo "token $(dsctl_token)"
# Host facts (src/host_facts.rs): the downward API's status.hostIP(s) and the node's
# allocatable resources, and the kubernetes.io/arch and kubernetes.io/os node labels.
echo "hostip $(echo "$SSH_CONNECTION" | awk '{print $3}')"
ip -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print "hostaddr " $2 " " $4}'
echo "uname $(uname -s) $(uname -m)"
echo "cpus $(nproc 2>/dev/null)"
echo "memtotal $(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null)"
echo "storage $(df -Pk /var/lib/containers 2>/dev/null | awk 'NR == 2 {print $2}')"
echo "now $(date +%s)"
v=$(podman --version 2>/dev/null | awk '{print $NF}')
echo "podman ${v:--}"
if [ -x /usr/lib/systemd/system-generators/podman-system-generator ] || [ -x /usr/libexec/podman/quadlet ]; then
  echo "quadlet yes"
else
  echo "quadlet no"
fi
if [ -e "$S/lock" ] && ! flock -n "$S/lock" true 2>/dev/null; then
  echo "lock held $(head -c 200 "$S/lock.holder" 2>/dev/null | tr '\n' ' ')"
else
  echo "lock free"
fi
for d in "$S"/daemonsets/*/; do
  [ -d "$d" ] || continue
  n=$(basename "$d")
  echo "ds $n $(cat "$d/revision" 2>/dev/null || echo -) $(cat "$d/created" 2>/dev/null || echo 0) $(cat "$d/recorded" 2>/dev/null || echo 0) $(cat "$d/number" 2>/dev/null || echo 0) $(base64 -w0 < "$d/cause" 2>/dev/null)"
  for h in "$d"history/*/; do
    [ -d "$h" ] || continue
    echo "dshist $n $(basename "$h") $(cat "$h/number" 2>/dev/null || echo 0) $(cat "$h/recorded" 2>/dev/null || echo 0) $(base64 -w0 < "$h/cause" 2>/dev/null)"
    [ -n "$FULL" ] && [ -f "$h/spec.json" ] && echo "dshistspec $n $(basename "$h") $(base64 -w0 < "$h/spec.json")"
  done
  for f in "$d"units/*; do
    [ -f "$f" ] && echo "dsunit $n $(basename "$f") $(sha256sum < "$f" | cut -c1-64)"
  done
  [ -f "$d/halted" ] && echo "dshalted $n $(base64 -w0 < "$d/halted")"
  # The applied spec: what auto-revert and `rollout undo` go back to.
  if [ -f "$d/spec.json" ]; then
    echo "dsspec $n $(base64 -w0 < "$d/spec.json")"
  fi
done
units=
# The service a unit file yields: x.pod -> x-pod.service (Quadlet), x.container -> x.service.
svc() { case $1 in *.pod) echo "${1%.pod}-pod.service" ;; *) echo "${1%.*}.service" ;; esac; }
for f in $UNIT_GLOBS; do
  [ -f "$f" ] || continue
  echo "file $f $(sha256sum < "$f" | cut -c1-64)"
  [ -n "$FULL" ] && echo "content $f $(base64 -w0 < "$f")"
  units="$units $(svc "$(basename "$f")")"
done
for d in "$S"/daemonsets/*/units; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do
    [ -f "$f" ] || continue
    u=$(svc "$(basename "$f")")
    case " $units " in *" $u "*) ;; *) units="$units $u" ;; esac
  done
done
if [ -n "$units" ]; then
  # One block of Key=Value lines per unit, blocks separated by an empty line.
  systemctl show --timestamp=unix -p Id,LoadState,ActiveState,SubState,UnitFileState,NRestarts,ActiveEnterTimestamp,NeedDaemonReload,ExecMainStatus -- $units 2>/dev/null |
    sed 's/^$/unitend/; /^unitend$/!s/^/prop /'
  echo unitend
  # The tail of each failed unit's journal: the container's own output (SyslogIdentifier=%N), bounded.
  for u in $(systemctl list-units --state=failed --plain --no-legend -- $units 2>/dev/null | awk '{print $1}'); do
    echo "journal $u $(journalctl -u "$u" -t "${u%.service}" -n "$JL" --no-pager -o cat 2>/dev/null | tail -c "$JB" | base64 -w0)"
  done
  podman ps -a --filter label=dsctl.daemonset --format 'container	{{.Names}}	{{.State}}	{{.Image}}	{{index .Labels "dsctl.revision"}}	{{index .Labels "dsctl.daemonset"}}	{{index .Labels "dsctl.container"}}	{{.PodName}}	{{.ID}}' 2>/dev/null
fi
# Scripts of earlier runs whose connection was lost (src/detached.rs).
dsctl_left_runs
echo "end"
