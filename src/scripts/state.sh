# dsctl_state: the part of a host's state that a plan is made from, one line each, in a fixed
# order: every record (revision, number, halted marker) and every unit file it holds or dsctl
# may own, by device, inode, size and mtime to the ns (every write dsctl makes is a rename, so
# a new inode; an edit in place moves the mtime). Builtins and one stat: this runs in every
# observe, and a content hash per file cost a no-op ~15 forks. Its sha256 is the observation's
# token (observe.sh), and the host script compares it again under the lock (src/plan_token.rs). Unit and container states are
# left out on purpose: a crash-looping unit flips them between two reads of an unchanged host.
# Needs $S (the state directory) and $UNIT_GLOBS.
dsctl_state() {
  for d in "$S"/daemonsets/*/; do
    [ -d "$d" ] || continue
    n=${d%/}; n=${n##*/}
    r=; read -r r 2>/dev/null <"$d/revision"
    m=; read -r m 2>/dev/null <"$d/number"
    h=-; [ ! -f "$d/halted" ] || h=halted
    echo "ds $n ${r:--} ${m:-0} $h"
  done
  # shellcheck disable=SC2086
  stat -c '%n %d:%i:%s:%.9Y' -- "$S"/daemonsets/*/units/* $UNIT_GLOBS 2>/dev/null
  return 0
}
dsctl_token() { t=$(dsctl_state | sha256sum); echo "${t%% *}"; }
