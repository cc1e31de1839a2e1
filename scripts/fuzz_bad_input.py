"""Fuzzing pass of issue 16: mutated scenario files, bad flags, data-destroying outputs, dashboard.

    python scripts/fuzz_bad_input.py [--scenarios 534] [--seed 0] [--years 1] [--scale 0.0005]

Prints the counts the issue reports: tracebacks, hangs, runs that store NaN/inf, exits that
destroy data, dashboard leaks (goal: 0 of each), with the number of cases tried. A scenario that
validates is run (1 year, tiny scale, in a forked child with a time limit) and saved; the stored
values are then checked to be finite. Flag cases run the CLI in-process (typer's CliRunner) and
compare digests of every file in the folder before and after.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import math
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml

from narcoflow.errors import NarcoflowError
from narcoflow.scenario import loader

NASTY = [math.nan, math.inf, -math.inf, 1e308, -1e308, 1e30, -1.0, 0, True, False, "abc", None,
         [], {}, 10**20, 2**63, 1e-300, "2011-02-30", "\x1b[31mred\x1b[0m", 0.5, 3]


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    yield path, obj


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def mutate(raw: dict, rng: random.Random) -> tuple[str, str]:
    """(description, YAML text) of one mutant of the built-in scenario."""
    data = copy.deepcopy(raw)
    nodes = [(p, v) for p, v in _leaves(data) if p]
    op = rng.choice(["leaf", "leaf", "leaf", "empty", "dup", "delete", "unknown", "text"])
    if op == "leaf":
        path, _ = rng.choice([(p, v) for p, v in nodes if not isinstance(v, dict | list)])
        value = rng.choice(NASTY)
        _get(data, path[:-1])[path[-1]] = value
        return f"{'.'.join(map(str, path))} = {value!r}", yaml.safe_dump(data, allow_unicode=True)
    if op == "empty":
        path, _ = rng.choice([(p, v) for p, v in nodes if isinstance(v, list) and v])
        _get(data, path[:-1])[path[-1]] = []
        return f"{'.'.join(map(str, path))} = []", yaml.safe_dump(data)
    if op == "dup":
        path, v = rng.choice([(p, v) for p, v in nodes if isinstance(v, list) and v])
        v.append(copy.deepcopy(rng.choice(v)))
        return f"{'.'.join(map(str, path))} duplicated item", yaml.safe_dump(data)
    if op == "delete":
        path, _ = rng.choice([(p, v) for p, v in nodes if isinstance(p[-1], str)])
        del _get(data, path[:-1])[path[-1]]
        return f"del {'.'.join(map(str, path))}", yaml.safe_dump(data)
    if op == "unknown":
        path, _ = rng.choice([(p, v) for p, v in nodes if isinstance(v, dict)])
        _get(data, path)["surprise\x1b[2J"] = 1
        return f"{'.'.join(map(str, path))}.surprise = 1", yaml.safe_dump(data)
    text = yaml.safe_dump(data)
    kind = rng.choice(["dupkey", "date", "year9999", "deep", "ansi", "tabs", "alias", "bytes"])
    if kind == "dupkey":
        return "duplicate key", text + "years: 3\nyears: 4\n"
    if kind == "date":
        return "impossible date", text.replace("start: 1998-01-05", "start: 2011-02-30")
    if kind == "year9999":
        return "start 9999", text.replace("start: 1998-01-05", "start: 9999-12-01")
    if kind == "deep":
        depth = rng.choice([20, 900, 5000])
        return f"nesting {depth}", text + "deep: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if kind == "ansi":
        return "ANSI name", text.replace("name: north-korea-2011", 'name: "\\e[31mx\\e[0m"', 1)
    if kind == "tabs":
        return "tab indentation", text.replace("  ", "\t", 3)
    if kind == "alias":
        bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True))
        return "alias bomb", bomb + text
    return "latin-1 bytes", text.replace("Pyongyang", "Py\udcf6ngyang", 1)


def _run_child(path: str, years: float, scale: float, db: str, q) -> None:
    try:
        from narcoflow.engine import Simulation
        from narcoflow.results import store

        sc = loader.load(path)
        sim = Simulation(sc, seed=0, scale=scale, years=min(years, sc.years))
        sim.run()
        store.save(sim.results, db)
        import duckdb

        con = duckdb.connect(db, read_only=True)
        bad = con.sql("SELECT count(*) FROM metrics WHERE NOT isfinite(value)").fetchall()[0][0]
        con.close()
        q.put(("nan" if bad else "ok", f"{bad} non-finite values" if bad else ""))
    except NarcoflowError as exc:
        q.put(("error", str(exc)[:200]))
    except BaseException:
        q.put(("traceback", traceback.format_exc()[-600:]))


def scenario_cases(n: int, seed: int, years: float, scale: float, tmp: Path, limit: float) -> dict:
    raw = loader._read_yaml_text(loader._builtin_text("north-korea-2011"), "built-in")
    rng = random.Random(seed)
    counts = {"cases": 0, "rejected": 0, "ran": 0, "tracebacks": 0, "hangs": 0, "stored_nan": 0}
    ctx = mp.get_context("fork")
    for i in range(n):
        desc, text = mutate(raw, rng)
        path = tmp / f"m{i}.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        counts["cases"] += 1
        t0 = time.monotonic()
        try:
            loader.load(path)
        except NarcoflowError as exc:
            counts["rejected"] += 1
            if "\x1b" in str(exc) or len(str(exc)) > 20_000:
                counts["tracebacks"] += 1
                print(f"[raw message] {desc}: {str(exc)[:200]!r}")
            continue
        except BaseException as exc:
            counts["tracebacks"] += 1
            print(f"[traceback on load] {desc}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        finally:
            if time.monotonic() - t0 > limit:
                counts["hangs"] += 1
                print(f"[slow load] {desc}: {time.monotonic() - t0:.1f} s")
        counts["ran"] += 1
        q = ctx.Queue()
        proc = ctx.Process(target=_run_child, args=(str(path), years, scale, str(tmp / f"m{i}.duckdb"), q))
        proc.start()
        proc.join(limit)
        if proc.is_alive():
            proc.kill()
            proc.join()
            counts["hangs"] += 1
            print(f"[hang] {desc}")
            continue
        status, detail = q.get() if not q.empty() else ("traceback", f"exit {proc.exitcode}")
        if status == "traceback":
            counts["tracebacks"] += 1
            print(f"[traceback in run] {desc}: {detail}")
        elif status == "nan":
            counts["stored_nan"] += 1
            print(f"[stored NaN] {desc}: {detail}")
    return counts


# ---------------------------------------------------------------------------- flags and outputs
def _digests(folder: Path) -> dict[str, str]:
    out = {}
    for p in folder.rglob("*"):
        if p.is_file() and not p.name.endswith(".wal"):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def flag_cases(tmp: Path) -> dict:
    from typer.testing import CliRunner

    from narcoflow.cli import app

    runner = CliRunner()
    base = tmp / "flags"
    base.mkdir()
    db = base / "runs.duckdb"
    r = runner.invoke(app, ["run", "north-korea-2011", "--years", "0.2", "--scale", "0.0005",
                            "--out", str(db)])
    assert r.exit_code == 0, r.output
    run_id = r.output.strip().splitlines()[-1].split()[-1]
    other = base / "other.duckdb"
    shutil.copy(db, other)
    (base / "folder").mkdir()
    fifo = base / "fifo"
    os.mkfifo(fifo)
    (base / "runs.parquet").symlink_to(db)  # the database under a Parquet name
    foreign = base / "foreign.duckdb"
    import duckdb

    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE runs (id INTEGER, note VARCHAR)")
    con.close()
    corrupt = base / "corrupt.duckdb"
    corrupt.write_bytes(db.read_bytes()[: 5000])
    policy = base / "policy.yaml"
    policy.write_text("p:\n  levers:\n    crackdown: {value: 2, start: 2011-02-30}\n")
    targets = base / "targets.yaml"
    targets.write_bytes("metric,value\nusers,caf\xe9\n".encode("latin-1"))
    sc = ["north-korea-2011", "--years", "0.1", "--scale", "0.0005"]
    cases = [
        ["export", run_id, "--db", str(db), "--out", str(db)],
        ["export", run_id, "--db", str(db), "--out", str(other)],
        ["export", run_id, "--db", str(db), "--out", str(base / "folder")],
        ["export", run_id, "--db", str(db), "--out", str(fifo)],
        ["report", run_id, "--db", str(db), "--out", str(other)],
        ["report", run_id, "--db", str(db), "--out", str(db)],
        ["report", run_id, "--db", str(db), "--out", str(fifo)],
        ["run", *sc[:1], "--years", "0.001", "--out", str(db)],
        ["run", *sc, "--seed", str(2**63), "--out", str(db)],
        ["run", *sc, "--seed", "-1", "--out", str(db)],
        ["run", *sc, "--out", str(foreign)],
        ["run", *sc, "--out", str(corrupt)],
        ["run", *sc, "--out", str(base / "folder")],
        ["run", *sc, "--out", str(fifo)],
        ["run", *sc[:1], "--years", "nan", "--out", str(db)],
        ["run", *sc[:1], "--scale", "inf", "--out", str(db)],
        ["show", "zzz", "--db", str(corrupt)],
        ["runs", "--db", str(foreign)],
        ["compare", "north-korea-2011", "--policy", "baseline", "--dask", "not an address", "--years", "0.1",
         "--scale", "0.0005", "--out", str(base / "x.duckdb")],
        ["compare", "north-korea-2011", "--policy", "p", "--policy-file", str(policy), "--years", "0.1",
         "--scale", "0.0005", "--out", str(base / "x.duckdb")],
        ["calibrate", "north-korea-2011", "--targets", "north-korea-2011", "--years", "inf",
         "--out", str(base / "c.duckdb")],
        ["calibrate", "north-korea-2011", "--targets", str(targets), "--out", str(base / "c.duckdb")],
        ["export", run_id, "--db", str(db), "--out", str(base / "runs.parquet"), "--force"],
        ["run", *sc, "--out", str(base / "sub" / "x.duckdb")],
        ["show", run_id, "--db", str(fifo)],
        ["validate", str(base / "folder")],
        ["validate", str(fifo)],
    ]
    counts = {"cases": 0, "tracebacks": 0, "destroyed": 0}
    for args in cases:
        before = _digests(base)
        counts["cases"] += 1
        res = runner.invoke(app, args)
        after = _digests(base)
        changed = [k for k in before if k in after and before[k] != after[k] or k not in after]
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            counts["tracebacks"] += 1
            print(f"[traceback] {' '.join(args)}: {type(res.exception).__name__}: {res.exception}")
        if changed or not fifo.exists() or fifo.is_file():
            counts["destroyed"] += 1
            print(f"[destroyed] {' '.join(args)}: {changed}")
        if res.exit_code not in (0, 2):
            print(f"[exit {res.exit_code}] {' '.join(args)}: {res.output[-300:]}")
        if "Missing option" in res.output or "No such option" in res.output:
            print(f"[case never reached the code] {' '.join(args)}: {res.output[-200:]}")
        if os.environ.get("FUZZ_VERBOSE"):
            print(f"  {' '.join(args)[:80]} -> {res.exit_code}: {res.output.strip()[-160:]!r}")
    return counts


# ---------------------------------------------------------------------------- dashboard
def dashboard_cases(tmp: Path) -> dict:
    from narcoflow.app import dashboard

    secret = tmp / "secret.yaml"
    secret.write_text("password: hunter2-SECRET\napi_key: SECRET-KEY\n")
    shadow = tmp / "shadow"
    shadow.write_text("root:$6$SECRETHASH:19000:0:99999:7:::\n")
    probes = ["/etc/shadow", "/etc/passwd", "/proc/self/status", str(secret), str(shadow),
              "/nonexistent/file.yaml", "../../etc/passwd", str(tmp / "missing.yaml"),
              "/root/.ssh/id_rsa", "/dev/zero"]
    counts = {"cases": 0, "leaks": 0}
    answers = set()
    folder = tmp / "dashfolder"
    folder.mkdir(exist_ok=True)
    for probe in probes:
        counts["cases"] += 1
        msg = dashboard.open_scenario_message(probe, folder)
        leaked = any(s in msg for s in ("SECRET", "hunter2", "root:", "Pid", "PPid"))
        if leaked:
            counts["leaks"] += 1
            print(f"[leak] {probe}: {msg[:200]}")
        answers.add(msg.replace(probe, "<path>"))
    if len(answers) > 1:
        counts["leaks"] += 1
        print(f"[existence leak] {len(answers)} different answers: {sorted(answers)}")
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=534)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--years", type=float, default=1.0)
    ap.add_argument("--scale", type=float, default=0.0005)
    ap.add_argument("--limit", type=float, default=120.0, help="seconds before a case is a hang")
    ap.add_argument("--parts", default="scenarios,flags,dashboard")
    args = ap.parse_args()
    parts = args.parts.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="nf-fuzz-"))
    try:
        t0 = time.monotonic()
        zero = {"cases": 0, "tracebacks": 0, "hangs": 0, "stored_nan": 0, "destroyed": 0, "leaks": 0}
        sc = fl = da = zero
        if "scenarios" in parts:
            sc = scenario_cases(args.scenarios, args.seed, args.years, args.scale, tmp, args.limit)
            print("scenario files:", sc, f"({time.monotonic() - t0:.0f} s)")
        if "flags" in parts:
            fl = flag_cases(tmp)
            print("flags and outputs:", fl)
        if "dashboard" in parts:
            da = dashboard_cases(tmp)
            print("dashboard:", da)
        total = {"tracebacks": sc["tracebacks"] + fl["tracebacks"], "hangs": sc["hangs"],
                 "stored_nan": sc["stored_nan"], "destroyed": fl["destroyed"], "leaks": da["leaks"],
                 "cases": sc["cases"] + fl["cases"] + da["cases"]}
        print("TOTAL:", total)
        return 0 if not any(v for k, v in total.items() if k != "cases") else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
