# dsctl_state: the part of a host's state that a plan is made from, one line each, in a fixed
# order: every unit file dsctl may own and every recorded copy, by device, inode, size and
# mtime to the ns (every write dsctl makes is a rename, so a new inode; an edit in place moves
# the mtime), then every record (revision, number, halted marker). observe.sh prints the same
# lines as `state` records from its own one stat, and dsctl hashes them into the observation's
# token; the host script hashes dsctl_state again under the lock and compares
# (src/plan_token.rs). Unit and container states are left out on purpose: a crash-looping unit
# flips them between two reads of an unchanged host.
# Needs $S (the state directory) and $UNIT_GLOBS.
dsctl_state() {
  # shellcheck disable=SC2086
  stat -L -c '%n %d:%i:%s:%.9Y' -- $UNIT_GLOBS "$S"/daemonsets/*/units/* 2>/dev/null || true
  for d in "$S"/daemonsets/*/; do
    [ -d "$d" ] || continue
    n=${d%/}; n=${n##*/}
    r=; read -r r 2>/dev/null <"$d/revision"
    m=; read -r m 2>/dev/null <"$d/number"
    h=-; [ ! -f "$d/halted" ] || h=halted
    echo "ds $n ${r:--} ${m:-0} $h"
  done
  return 0
}
dsctl_token() { t=$(dsctl_state | sha256sum); echo "${t%% *}"; }
