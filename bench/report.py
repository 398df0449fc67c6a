#!/usr/bin/env python3
"""Turn the results of bench/run.sh into one markdown report.

Usage: report.py OUT_DIR

Reads the timer exports (hyperfine's JSON shape) s1-drop.json, s2-full.json and s3-growth.json,
the remap exports s5-remap*.json with remap.tsv, plus sizes.tsv, rss.tsv and
failures.txt when present, and prints markdown.

Ratios are against gosu's median in scenario 1 (drop only). The "net"
columns subtract the floor (`/bin/true` started the same way) of the
same timer run, which is what the contestant itself costs.
"""

import json
import pathlib
import re
import statistics
import sys

FLOOR = "floor (/bin/true)"

SCENARIOS = [
    ("s1-drop", "1 drop only"),
    ("s2-full", "2 full start"),
    ("s3-growth", "3 growth"),
]


def load(path):
    """Return {name: (median_ms, stddev_ms, runs)} of one timer export."""
    with open(path) as f:
        data = json.load(f)
    res = {}
    for r in data["results"]:
        times = [t * 1000 for t in r["times"]]
        sd = statistics.stdev(times) if len(times) > 1 else 0.0
        res[r["command"]] = (statistics.median(times), sd, len(times))
    return res


def fmt_ratio(x):
    return f"{x:.2f}×"


def targets(runs):
    """Print the ratios issue #4 asks for, each from medians of one run."""
    s1, s2 = runs.get("s1-drop", {}), runs.get("s2-full", {})
    shim, sudo, ref = "agent-entrypoint", "sudo script", "gosu, drop only (reference)"
    lines = []
    if shim in s1 and "gosu" in s1:
        lines.append(
            f"- drop only: agent-entrypoint {s1[shim][0]:.2f} ms, gosu {s1['gosu'][0]:.2f} ms: "
            f"**{fmt_ratio(s1[shim][0] / s1['gosu'][0])} gosu** (target ≤ 1.00×)"
        )
    if shim in s2 and ref in s2:
        lines.append(
            f"- full start: agent-entrypoint {s2[shim][0]:.2f} ms, gosu's drop-only start in the same run "
            f"{s2[ref][0]:.2f} ms: **{fmt_ratio(s2[shim][0] / s2[ref][0])}** (target ≤ 1.50×)"
        )
    if shim in s2 and sudo in s2 and FLOOR in s2:
        f = s2[FLOOR][0]
        lines.append(
            f"- full start against the sudo script ({s2[sudo][0]:.2f} ms): "
            f"**{s2[sudo][0] / s2[shim][0]:.1f}× faster**, net of the floor "
            f"{(s2[sudo][0] - f) / (s2[shim][0] - f):.1f}× (target ≥ 10×)"
        )
    if lines:
        print("## Against the targets")
        print()
        print("\n".join(lines))
        print()


def main():
    out = pathlib.Path(sys.argv[1])
    runs = {}
    for key, _ in SCENARIOS:
        p = out / f"{key}.json"
        if p.exists():
            runs[key] = load(p)

    # The slow rows of scenario 3 ran in their own short invocation; they
    # join the growth table and use its floor.
    slow = out / "s3-growth-slow.json"
    if slow.exists() and "s3-growth" in runs:
        for name, v in load(slow).items():
            runs["s3-growth"][name + " †"] = v

    s1 = runs.get("s1-drop", {})
    if "gosu" not in s1 or FLOOR not in s1:
        print("no scenario 1 results with gosu and the floor: nothing to compare")
        return
    gosu = s1["gosu"][0]
    gosu_net = gosu - s1[FLOOR][0]

    print("## Time (medians of interleaved runs)")
    print()
    print(
        "Every row is a whole process started by `nsrun [-u UID:GID] TOP …` (fresh mount and PID "
        "namespaces, /proc, chroot) in a fresh container root TOP (an overlay with an empty upper "
        "layer); each scenario's contestants ran interleaved, in a new random order every round. "
        "*net* subtracts the floor of the same run. "
        f"Ratios are to gosu's drop-only median ({gosu:.2f} ms, net {gosu_net:.2f} ms)."
    )
    print()
    print("| scenario | contestant | runs | median ± σ (ms) | net (ms) | × gosu drop | net × gosu drop |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for key, title in SCENARIOS:
        res = runs.get(key)
        if not res:
            continue
        floor = res[FLOOR][0] if FLOOR in res else None
        for name, (med, sd, n) in res.items():
            net = med - floor if floor is not None else float("nan")
            print(
                f"| {title} | {name} | {n} | {med:.2f} ± {sd:.2f} | {net:.2f} | "
                f"{fmt_ratio(med / gosu)} | {fmt_ratio(net / gosu_net) if name != FLOOR else '—'} |"
            )
    print()
    if any(k.endswith(" †") for k in runs.get("s3-growth", {})):
        print("† its own timer run with few rounds (too slow for more); net uses the floor of the growth run.")
        print()

    targets(runs)
    growth(runs.get("s2-full", {}), runs.get("s3-growth", {}))
    remap(out)
    sizes(out / "sizes.tsv")
    rss(out / "rss.tsv")
    start_syscalls(out / "start-syscalls.tsv")
    syscalls(out / "syscalls.tsv")
    failures(out / "failures.txt")


def growth(s2, s3):
    """Say how the full start grows with the size of /etc/passwd and /etc/group."""
    if not s3 or FLOOR not in s3:
        return
    floor = s3[FLOOR][0]
    print("## Growth with the account database")
    print()
    print(
        "Net median (floor of the same run subtracted) of a full start when /etc/passwd, "
        "group, shadow and gshadow each hold N extra entries."
    )
    print()
    rows = {}
    for name, (med, sd, _) in s3.items():
        m = re.fullmatch(r"(.+) n=(\d+)( †)?", name)
        if m:
            rows.setdefault(m.group(1), {})[int(m.group(2))] = (med - floor, sd)
    if not rows:
        return
    ns = sorted({n for r in rows.values() for n in r})
    print("| contestant | " + " | ".join(f"N={n}" for n in ns) + " | µs per 1k entries (10k→100k) | verdict |")
    print("|---|" + "--:|" * len(ns) + "--:|---|")
    for who, pts in rows.items():
        cells = [f"{pts[n][0]:.2f} ms" if n in pts else "—" for n in ns]
        slope, verdict = "—", "—"
        if all(n in pts for n in (1000, 10000, 100000)):
            t1, t10, t100 = (pts[n][0] for n in (1000, 10000, 100000))
            s_hi = (t100 - t10) / 90  # ms per 1k entries
            s_lo = (t10 - t1) / 9
            slope = f"{s_hi * 1000:.1f}"
            noise = max(pts[1000][1], pts[10000][1])
            if t10 - t1 <= noise:
                # 1k→10k is inside the noise, so no slope to compare with.
                verdict = (
                    f"1k→10k within noise (+{t10 - t1:.2f} ms, σ {noise:.2f}); "
                    f"10k→100k +{t100 - t10:.2f} ms"
                )
            else:
                r = s_hi / s_lo
                kind = "≈ linear" if 0.6 <= r <= 1.6 else ("superlinear" if r > 1.6 else "sublinear")
                verdict = f"{kind} (slope 10k→100k / slope 1k→10k = {r:.2f})"
        print(f"| {who} | " + " | ".join(cells) + f" | {slope} | {verdict} |")
    print()


REMAP = [
    ("s5-remap", "warm", "ext4, page cache warm"),
    ("s5-remap-cold", "cold", "ext4, page cache dropped"),
    ("s5-remap-overlay", "overlay", "overlayfs, fresh upper layer"),
]
# (first start, second start) row names of each contestant in run.sh.
REMAP_ROWS = [
    ("agent-entrypoint", "agent-entrypoint, first start", "agent-entrypoint, no-op start"),
    ("chown -R", "chown -R, first run", "chown -R, second run"),
    ("chown -R --from", "chown -R --from, first run", "chown -R --from, second run"),
    ("fixuid", "fixuid, first start", "fixuid, second start"),
]


def fmt_ms(ms):
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def remap(out):
    """Scenario 5: a named image user moved with its 100k files."""
    setups = [(key, mode, title, load(out / f"{key}.json")) for key, mode, title in REMAP if (out / f"{key}.json").exists()]
    notes = {}
    tsv = out / "remap.tsv"
    if tsv.exists():
        for line in tsv.read_text().splitlines():
            k, _, v = line.partition("\t")
            notes[k] = v
    if not setups:
        return
    print("## Remap: 100k files from 1000:1000 to 2000:2000 (scenario 5)")
    print()
    print(
        "The image user `dev:x:1000:1000` (group `dev:x:1000:`) owns `/home/dev`: "
        f"{notes.get('tree', '?')}. Each contestant moves it to 2000:2000: "
        "`agent-entrypoint --uid 2000 --gid 2000 --name dev -- true` started as root (renumbers the "
        "passwd and group lines, then its parallel lchown walk), `chown -R 2000:2000 /home/dev` "
        "(the tree only), `chown -R --from=1000:1000 2000:2000 /home/dev` (the tree only, and only "
        "what the old owner owns: the walk's job, a stat and a chown per entry), and `fixuid -q true` setuid-root started as 2000:2000 "
        "(`/etc/fixuid/config.yml`: user dev, group dev, paths /home/dev). "
        "A *first* start follows a reset of the tree and the account files; the *second* start "
        "runs on what the contestant's own first start left, as a restarted container does. "
        "For agent-entrypoint that is a start with dev already at 2000: it walks nothing. "
        "fixuid's second start finds its marker `/run/fixuid.ran` and walks nothing either; "
        "chown -R walks and chowns everything again; chown -R --from walks and stats everything again."
    )
    print()
    for _, mode, title, _ in setups:
        print(f"- {title}: {notes.get(mode, '')}")
    for mode in ("cold", "overlay"):
        if notes.get(mode, "").startswith("not measured"):
            print(f"- {mode}: {notes[mode]}")
    print(f"- fixuid: {notes.get('fixuid') or 'not measured'}")
    print()
    print("| setup | contestant | runs | median ± σ | net |")
    print("|---|---|--:|--:|--:|")
    for _, _, title, res in setups:
        floor = res[FLOOR][0] if FLOOR in res else 0.0
        for name, (med, sd, n) in res.items():
            net = fmt_ms(med - floor) if name != FLOOR else "—"
            print(f"| {title} | {name} | {n} | {fmt_ms(med)} ± {fmt_ms(sd)} | {net} |")
    print()
    print("First start, medians; the ratios are how many times longer the others take (goal: chown -R ≥ 2×).")
    print()
    others = [who for who, _, _ in REMAP_ROWS if who != "agent-entrypoint"]
    print("| setup | " + " | ".join(who for who, _, _ in REMAP_ROWS) + " | " + " | ".join(f"{who} ÷ agent-entrypoint" for who in others) + " |")
    print("|---|" + "--:|" * (len(REMAP_ROWS) + len(others)))
    for _, _, title, res in setups:
        med = {who: res[first][0] for who, first, _ in REMAP_ROWS if first in res}
        cells = [fmt_ms(med[who]) if who in med else "—" for who, _, _ in REMAP_ROWS]
        shim = med.get("agent-entrypoint")
        ratios = [fmt_ratio(med[who] / shim) if shim and who in med else "—" for who in others]
        print(f"| {title} | " + " | ".join(cells + ratios) + " |")
    print()
    print(
        "Second start, medians, as a share of the same contestant's first start (goal for "
        "agent-entrypoint: under 10 %); *net* subtracts the floor from both."
    )
    print()
    print("| setup | contestant | first | second | second ÷ first | net ÷ net |")
    print("|---|---|--:|--:|--:|--:|")
    for _, _, title, res in setups:
        floor = res[FLOOR][0] if FLOOR in res else 0.0
        for who, first, again in REMAP_ROWS:
            if first not in res or again not in res:
                continue
            f, a = res[first][0], res[again][0]
            print(
                f"| {title} | {who} | {fmt_ms(f)} | {fmt_ms(a)} | {100 * a / f:.1f} % | "
                f"{100 * (a - floor) / (f - floor):.1f} % |"
            )
    print()


def sizes(path):
    if not path.exists():
        return
    print("## Size")
    print()
    print("| binary | bytes | MiB |")
    print("|---|--:|--:|")
    for line in path.read_text().splitlines():
        name, b = line.split("\t")
        print(f"| {name} | {int(b)} | {int(b) / 1048576:.2f} |")
    print()


def start_syscalls(path):
    """System calls of one start of the contestants of scenarios 1 and 2."""
    if not path.exists():
        return
    rows = [line.split("\t") for line in path.read_text().splitlines() if line.count("\t") == 1]
    if not rows:
        return
    floor = next((int(c) for n, c in rows if n.startswith("floor") and c.isdigit()), None)
    print("## System calls of a start")
    print()
    print("`strace -f -c` of one start each, nsrun included; *net* subtracts the floor's.")
    print()
    print("| contestant | system calls | net |")
    print("|---|--:|--:|")
    for name, calls in rows:
        net = str(int(calls) - floor) if calls.isdigit() and floor is not None and not name.startswith("floor") else "—"
        print(f"| {name} | {calls} | {net} |")
    print()


def syscalls(path):
    """System calls of one first start of scenario 5, per entry of the tree."""
    if not path.exists():
        return
    rows = [line.split("\t") for line in path.read_text().splitlines() if line.count("\t") == 2]
    if not rows:
        return
    print("## System calls of a remap (scenario 5)")
    print()
    print("`strace -f -c` of one first start each on ext4, page cache warm; nsrun and the floor included.")
    print()
    print("| contestant | system calls | entries | per entry |")
    print("|---|--:|--:|--:|")
    for name, calls, entries in rows:
        per = f"{int(calls) / int(entries):.2f}" if calls.isdigit() and entries.isdigit() and int(entries) else "—"
        print(f"| {name} | {calls} | {entries} | {per} |")
    print()


def rss(path):
    if not path.exists() or not path.read_text().strip():
        return
    print("## Peak RSS and minor page faults")
    print()
    print(
        "GNU time `%M` (ru_maxrss: the largest single process of the tree, not a sum) and `%R` "
        "(minor page faults of the whole tree, the command it execs included), time running "
        "inside the chroot; medians of the runs. *Net* faults subtract the floor's."
    )
    print()
    rows = []
    for line in path.read_text().splitlines():
        name, vals = line.split("\t")
        pairs = [v.split(",") for v in vals.split()]
        kib = [int(p[0]) for p in pairs if p[0].isdigit()]
        faults = [int(p[1]) for p in pairs if len(p) > 1 and p[1].isdigit()]
        rows.append((name, kib, faults, vals))
    floor = next((statistics.median(f) for n, _, f, _ in rows if n.startswith("floor") and f), None)
    print("| contestant | peak RSS (KiB) | minor faults | net faults | runs (KiB,faults) |")
    print("|---|--:|--:|--:|---|")
    for name, kib, faults, vals in rows:
        med = f"{statistics.median(kib):.0f}" if kib else "n/a"
        mf = f"{statistics.median(faults):.0f}" if faults else "n/a"
        net = f"{statistics.median(faults) - floor:.0f}" if faults and floor is not None and not name.startswith("floor") else "—"
        print(f"| {name} | {med} | {mf} | {net} | {vals} |")
    print()


def failures(path):
    if not path.exists() or not path.read_text().strip():
        return
    print("## Not measured")
    print()
    print("These contestants failed their check run and were left out of the timings.")
    print()
    for line in path.read_text().splitlines():
        label, why, cmd, stderr = (line.split("\t") + ["", "", ""])[:4]
        print(f"- **{label}**: {why}")
        print(f"  - command: `{cmd}`")
        if stderr.strip():
            print(f"  - stderr: `{stderr.strip()}`")
    print()


if __name__ == "__main__":
    main()
