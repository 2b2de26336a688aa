# dsctl_state: the part of a host's state that a plan is made from, one line each, in a fixed
# order: every record (revision, number, halted marker, the unit files it holds) and every
# unit file dsctl may own. Its sha256 is the observation's token (observe.sh), and the host
# script compares it again under the lock (src/plan_token.rs). Unit and container states are
# left out on purpose: a crash-looping unit flips them between two reads of an unchanged host.
# Needs $S (the state directory) and $UNIT_GLOBS.
dsctl_state() {
  for d in "$S"/daemonsets/*/; do
    [ -d "$d" ] || continue
    h=-; [ ! -f "$d/halted" ] || h=halted
    echo "ds $(basename "$d") $(cat "$d/revision" 2>/dev/null || echo -) $(cat "$d/number" 2>/dev/null || echo 0) $h"
    for f in "$d"units/*; do
      if [ -f "$f" ]; then echo "dsunit $(basename "$f") $(sha256sum < "$f" | cut -c1-64)"; fi
    done
  done
  for f in $UNIT_GLOBS; do
    if [ -f "$f" ]; then echo "file $f $(sha256sum < "$f" | cut -c1-64)"; fi
  done
  return 0
}
dsctl_token() { dsctl_state | sha256sum | cut -c1-64; }
