#!/usr/bin/env python3
"""The no-op side by side, on N real fleet hosts (tests/bench/run sets it up and calls this).

Every tool does the same no-op job on the same hosts at the same parallelism, with host key
checking on, in interleaved rounds (the order rotates each round), so that the machine's load,
shared with other work, falls on every tool alike: the ratios of the medians count, the seconds
less. Before each run it waits --gap seconds (15), so that every host's systemd user manager,
which each root login starts and logind keeps 10 s after the last logout (UserStopDelaySec), has
stopped: every tool starts as cold as a cron run does (a run right after another one found the
managers up and took a third of the time, for the floor as for dsctl). For each run it records
the wall time, the tool's own CPU time and peak RSS (wait4), and the CPU the hosts spent (their cgroups' cpuacct.usage, less each host's idle rate).

  side_by_side.py --sizes 20,100 --rounds 3 --dsctl BIN --venvs DIR --out DIR [--plot PNG]
                  [--tools floor,dsctl,pyinfra,ansible] [--slow-rounds R]   (R rounds for Ansible)
                  [--gap SECONDS]
  side_by_side.py inventory N DIR     (writes the bench hosts' inventories into DIR)
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import tomllib

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FLEET = os.path.join(REPO, "target", "fleet")
CGROUP = "/sys/fs/cgroup/cpuacct/dsfleet"
DS = "pf-bench"
PEER_UNIT = "pf-bench-peer.service"
# What the peers converge: one plain service, checked as dsctl checks its units.
PEER_UNIT_TEXT = """[Unit]
Description=dsctl benchmark: the peer tools' no-op service

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""


def bench_hosts(n):
    """node-14 … node-(13+n): the hosts beyond the shared and fault hosts."""
    with open(os.path.join(FLEET, "inventory.toml"), "rb") as f:
        inv = tomllib.load(f)
    by_name = {h["name"]: h for h in inv["hosts"]}
    names = [f"node-{i}" for i in range(14, 14 + n)]
    missing = [x for x in names if x not in by_name]
    if missing:
        sys.exit(f"side_by_side: the fleet lacks {missing[:3]}…: run tests/fleet/fleet up {13 + n}")
    return inv["defaults"], [by_name[x] for x in names]


def write_inventories(work, defaults, hosts):
    key, known = defaults["identity_file"], defaults["known_hosts"]
    lines = ["[defaults]"] + [f"{k} = {json.dumps(v)}" for k, v in defaults.items()]
    for h in hosts:
        lines += ["", "[[hosts]]", f'name = "{h["name"]}"', f'address = "{h["address"]}"']
    with open(os.path.join(work, "inventory.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(work, "hosts.txt"), "w") as f:
        f.write("".join(h["address"] + "\n" for h in hosts))
    with open(os.path.join(work, "ansible.ini"), "w") as f:
        f.write("[bench]\n" + "".join(h["address"] + "\n" for h in hosts))
    ssh_args = f"-o ControlMaster=no -o ControlPath=none -o StrictHostKeyChecking=yes -o UserKnownHostsFile={known}"
    with open(os.path.join(work, "ansible.cfg"), "w") as f:
        f.write(f"""[defaults]
inventory = {work}/ansible.ini
remote_user = root
private_key_file = {key}
host_key_checking = True
interpreter_python = /usr/bin/python3
gathering = explicit
retry_files_enabled = False

[ssh_connection]
pipelining = True
ssh_args = {ssh_args}
""")
    with open(os.path.join(work, "peer.service"), "w") as f:
        f.write(PEER_UNIT_TEXT)
    with open(os.path.join(work, "playbook.yml"), "w") as f:
        f.write(f"""- hosts: bench
  gather_facts: false
  tasks:
    - name: unit file
      ansible.builtin.copy:
        src: {work}/peer.service
        dest: /etc/systemd/system/{PEER_UNIT}
        mode: "0644"
      register: unit
    - name: daemon-reload if it changed
      ansible.builtin.systemd_service:
        daemon_reload: true
      when: unit.changed
    - name: enabled and active
      ansible.builtin.systemd_service:
        name: {PEER_UNIT}
        enabled: true
        state: started
""")
    with open(os.path.join(work, "pyinfra_inventory.py"), "w") as f:
        data = {
            "ssh_user": "root",
            "ssh_key": key,
            "ssh_known_hosts_file": known,
            "ssh_strict_host_key_checking": "yes",
        }
        f.write(f"bench = [(h, {data!r}) for h in {[h['address'] for h in hosts]!r}]\n")
    with open(os.path.join(work, "pyinfra_deploy.py"), "w") as f:
        f.write(f"""from pyinfra.operations import files, systemd

unit = files.put(name="unit file", src={os.path.join(work, "peer.service")!r},
                 dest="/etc/systemd/system/{PEER_UNIT}", mode="644")
systemd.daemon_reload(name="daemon-reload if it changed", _if=unit.did_change)
systemd.service(name="enabled and active", service="{PEER_UNIT}", running=True, enabled=True)
""")


def host_cpu_ns(hosts):
    total = 0
    for h in hosts:
        try:
            with open(os.path.join(CGROUP, h["name"], "cpuacct.usage")) as f:
                total += int(f.read())
        except OSError:
            return None
    return total


def run(cmd, env=None, log=None):
    """Runs cmd; returns (wall s, exit code, user+sys s, max RSS KiB)."""
    t0 = time.monotonic()
    out = open(log, "ab") if log else subprocess.DEVNULL
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    if log:
        out.close()
    return wall, os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def tools(args, work, defaults):
    key, known = defaults["identity_file"], defaults["known_hosts"]
    par = str(args.parallel)
    ssh = ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
           "-o", f"UserKnownHostsFile={known}", "-o", "ControlMaster=no", "-o", "ControlPath=none",
           "-l", "root"]
    # xargs runs `ssh HOST true` PAR at a time; `sh -c` exits non-zero if any login failed.
    floor = lambda kex: ["sh", "-c", f"xargs -P {par} -I@ {' '.join(ssh)} {kex} @ true < {work}/hosts.txt"]
    dsctl = [args.dsctl, "-i", f"{work}/inventory.toml"]
    spec = f"{work}/{DS}.toml"
    venv = args.venvs
    env_ans = dict(os.environ, ANSIBLE_CONFIG=f"{work}/ansible.cfg", ANSIBLE_FORKS=par)
    t = {
        "floor (curve25519)": (floor("-o KexAlgorithms=curve25519-sha256"), None),
        "floor (default kex)": (floor(""), None),
        "dsctl apply": (dsctl[:1] + ["apply", "-f", spec] + dsctl[1:] + ["--parallel", par, "-o", "json", "--stats"], None),
        "dsctl diff": (dsctl[:1] + ["diff", "-f", spec] + dsctl[1:] + ["--parallel", par], None),
        "pyinfra": ([f"{venv}/pyinfra/bin/pyinfra", "-y", "--parallel", par, f"{work}/pyinfra_inventory.py",
                     f"{work}/pyinfra_deploy.py"], None),
        "ansible": ([f"{venv}/ansible/bin/ansible-playbook", f"{work}/playbook.yml"], env_ans),
    }
    return {k: v for k, v in t.items() if k.split(" ")[0] in args.tools}


def idle_rate(hosts, secs=3.0):
    a = host_cpu_ns(hosts)
    time.sleep(secs)
    b = host_cpu_ns(hosts)
    return None if a is None or b is None else (b - a) / secs


def measure(args, n):
    work = os.path.join(args.out, f"n{n}")
    os.makedirs(work, exist_ok=True)
    defaults, hosts = bench_hosts(n)
    write_inventories(work, defaults, hosts)
    if args.spec:
        # A DaemonSet the hosts may already run (the part before the side-by-side converged it).
        with open(args.spec) as f:
            spec = f.read()
    else:
        with open(os.path.join(REPO, "examples", "web.toml")) as f:
            spec = f.read()
        spec = spec.replace('name = "web"', f'name = "{DS}"', 1).replace('app = "web"', f'app = "{DS}"')
        spec = spec.replace("hostPort = 8480", "hostPort = 8721")
    with open(os.path.join(work, f"{DS}.toml"), "w") as f:
        f.write(spec)
    t = tools(args, work, defaults)
    log = os.path.join(work, "log.txt")
    # Converge first: the DaemonSet (health-gated, so it is serving), and the peers' unit.
    print(f"[bench] N={n}: converging", file=sys.stderr)
    # The peers' unit by the quicker of the two (they do the same job).
    peer = next((p for p in ("pyinfra", "ansible") if p in t), None)
    for name in ("dsctl apply", peer):
        if name:
            cmd, env = t[name]
            cmd = [c for c in cmd if c not in ("-o", "json", "--stats")] if name == "dsctl apply" else cmd
            _, code, _, _ = run(cmd, env, log)
            if code != 0:
                sys.exit(f"side_by_side: converging with {name} failed (exit {code}); see {log}")
    idle = idle_rate(hosts)
    results = {k: [] for k in t}
    order = list(t)
    for r in range(args.rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            if name == "ansible" and args.slow_rounds is not None and r >= args.slow_rounds:
                continue
            cmd, env = t[name]
            time.sleep(args.gap)
            a = host_cpu_ns(hosts)
            out = os.path.join(work, f"{name.replace(' ', '_').replace('(', '').replace(')', '')}.{r}.out")
            if os.path.exists(out):
                os.remove(out)  # run() appends: an earlier run's output would follow this one
            wall, code, cpu, rss = run(cmd, env, out)
            b = host_cpu_ns(hosts)
            host_ms = None
            if a is not None and b is not None:
                host_ms = max(0.0, (b - a) - (idle or 0) * wall) / 1e6 / n
            row = {"wall": wall, "exit": code, "cpu": cpu, "rss_kib": rss, "host_cpu_ms": host_ms}
            if name == "dsctl apply":
                row.update(dsctl_stats(out))
            ok = code == 0 and row.get("changed", 0) == 0
            if name == "ansible":
                # Every host reached, nothing changed (an empty inventory also exits 0).
                with open(out) as f:
                    recap = re.findall(r"ok=\d+ +changed=0 +unreachable=0 +failed=0", f.read())
                ok = ok and len(recap) == n
            if not ok:
                print(f"[bench] N={n} {name} round {r}: exit {code}, {row}; see {out}", file=sys.stderr)
            row["ok"] = ok
            results[name].append(row)
            print(f"[bench] N={n} round {r} {name}: {wall:.2f} s", file=sys.stderr)
    return {"n": n, "parallel": args.parallel, "rounds": args.rounds, "gap": args.gap, "slow_rounds": args.slow_rounds, "idle_host_ms_per_s": (idle or 0) / 1e6 / n,
            "results": results}


def dsctl_stats(path):
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return {"changed": -1}
    hosts = doc.get("hosts", [])
    return {
        "changed": doc.get("summary", {}).get("changed", -1),
        "round_trips": sorted({h.get("round_trips") for h in hosts}),
        "connections": sorted({h.get("connections") for h in hosts}),
    }


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(value, unit, scale=1.0, digits=2):
    return "n/a" if value is None else f"{value * scale:.{digits}f} {unit}"


def table(all_results):
    out = []
    for res in all_results:
        n, rs = res["n"], res["results"]
        base = med(rs.get("floor (curve25519)", []), "wall")
        slow = f"; Ansible: {res['slow_rounds']}" if res.get("slow_rounds") is not None else ""
        out.append(f"\n**N = {n}** ({res['parallel']} in parallel, medians of {res['rounds']} interleaved rounds{slow}; each run after {res.get('gap', 0):g} s of quiet)\n")
        out.append("| no-op | wall | ÷ curve25519 floor | tool CPU (user+sys) | tool peak RSS | host CPU per host | every run ok |")
        out.append("|---|---|---|---|---|---|---|")
        for name, rows in rs.items():
            w = med(rows, "wall")
            extra = ""
            if name == "dsctl apply" and rows and "round_trips" in rows[0]:
                extra = f" (exec round trips / connections per host: {rows[0]['round_trips']} / {rows[0]['connections']})"
            out.append(" | ".join([
                f"| {name}{extra}", fmt(w, "s"), f"{w / base:.2f}" if base and w else "n/a",
                fmt(med(rows, "cpu"), "s"), fmt(med(rows, "rss_kib"), "MiB", 1 / 1024, 1),
                fmt(med(rows, "host_cpu_ms"), "ms", 1, 1), f"{all(r['ok'] for r in rows)} |"]))
        d = med(rs.get("dsctl apply", []), "wall")
        lines = []
        for peer in ("pyinfra", "ansible"):
            p = med(rs.get(peer, []), "wall")
            if d and p:
                lines.append(f"dsctl apply is {p / d:.1f}× ahead of {peer}")
        if lines:
            out.append("\n" + "; ".join(lines) + ".")
    return "\n".join(out)


def plot(all_results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[bench] no matplotlib: no plot", file=sys.stderr)
        return
    sizes = [r["n"] for r in all_results]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in all_results[0]["results"]:
        ys = [med(r["results"][name], "wall") for r in all_results]
        ax.plot(sizes, ys, marker="o", label=name)
    ax.set_xlabel("hosts (N)")
    ax.set_ylabel("no-op wall time, s (median)")
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("no-op against N real fleet hosts, side by side (2 shared cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    if sys.argv[1:2] == ["inventory"]:
        # side_by_side.py inventory N DIR: the bench hosts' dsctl inventory, for tests/bench/run.
        defaults, hosts = bench_hosts(int(sys.argv[2]))
        write_inventories(sys.argv[3], defaults, hosts)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20,100")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--slow-rounds", type=int, help="rounds for Ansible (default: --rounds)")
    ap.add_argument("--parallel", type=int, default=64)
    ap.add_argument("--gap", type=float, default=15.0,
                    help="seconds of quiet before each run (the hosts' user managers stop after 10)")
    ap.add_argument("--tools", default="floor,dsctl,pyinfra,ansible")
    ap.add_argument("--dsctl", required=True)
    ap.add_argument("--venvs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--plot")
    ap.add_argument("--spec", help="the DaemonSet to converge and check (default: pf-bench from examples/web.toml)")
    args = ap.parse_args()
    args.tools = args.tools.split(",")
    args.out = os.path.abspath(args.out)
    all_results = [measure(args, int(n)) for n in args.sizes.split(",")]
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(all_results, f, indent=1)
    print(table(all_results))
    if args.plot:
        plot(all_results, args.plot)
    bad = [(r["n"], k) for r in all_results for k, rows in r["results"].items() if not all(x["ok"] for x in rows)]
    if bad:
        print(f"[bench] runs that failed or changed something: {bad}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
