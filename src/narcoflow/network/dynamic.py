"""Dynamic test of removal plans: arrest the plan's actors in the running simulation and see how
much flow is really cut once replacement, recruitment and rewiring act.

The static optimum of `narcoflow.network.interdict` assumes the network stays as it was. In the
simulation it does not: vacant positions are filled (`Recruitment.fill`), orphaned sellers,
wholesalers, producers and users find new ties (`Recruitment.rewire`), producers enter on
profit (`ProducerEntryExit`), and the prices that a shortage raises draw product and entrants in.
The literature on criminal-network disruption reports that targeted removals can be undone by
such recovery (e.g. Duijn, Kashirin and Sloot 2014, Sci. Rep. 4:4238, doi:10.1038/srep04238).

Method: the stored run is replayed to the snapshot step. Each replication branches from that
state: replication 0 continues the stored run's own random streams (it is the run's real
future), replication r >= 1 re-seeds every named stream from ``(run seed, step, r, seed)``.
Within a replication, every plan and the no-removal baseline share the branch's random
numbers (common random numbers), so their difference is the effect of the removals. Each plan's
actors are arrested (`Simulation.arrest_actors`: stock seized, persons jailed, ties cut) and
the run continues ``max(horizons)`` weeks with the flow log on. The flow measured each week is
what the static plan minimised: product reaching the target nodes (by default users of every
region and the first foreign arrival abroad, state exports included), so the static and the
simulated shares are comparable.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from narcoflow.engine import Simulation
from narcoflow.errors import NetworkError
from narcoflow.network.flows import TARGET_GROUPS, resolve_targets
from narcoflow.network.interdiction import Interdiction, Plan
from narcoflow.network.replay import replay
from narcoflow.network.snapshot import Snapshot

DEFAULT_HORIZONS = (4, 13, 52)
BASELINE = "none"


@dataclass
class Recovery:
    """Weekly flows after each plan, per replication, with the static predictions.

    Attributes
    ----------
    weekly : DataFrame
        ``plan, replication, week, users_g, abroad_g, private_abroad_g, target_g`` (week 1 = the
        first week after the removals; grams for the full population): product reaching users,
        leaving for abroad (first arrival; of which private, i.e. smuggled), and reaching the
        targets. Plan ``none`` is the baseline.
    static : dict
        Plan name -> static remaining share (remaining max-flow / baseline max-flow).
    horizons : tuple of int
    """

    weekly: pd.DataFrame
    static: dict[str, float]
    horizons: tuple[int, ...]
    removed: dict[str, list[str]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)

    def ratios(self, smooth: int = 4) -> pd.DataFrame:
        """Per plan and week: weekly flow to the targets / baseline's (``smooth``-week rolling
        sums), mean and range over replications."""
        w = self.weekly.pivot_table(index=["replication", "week"], columns="plan", values="target_g")
        roll = w.groupby(level="replication").transform(lambda s: s.rolling(smooth, min_periods=1).sum())
        ratio = roll.div(roll[BASELINE].where(roll[BASELINE] > 0), axis=0)
        long = ratio.drop(columns=BASELINE).stack().rename("ratio").reset_index()
        return (long.groupby(["plan", "week"])["ratio"].agg(["mean", "min", "max"]).reset_index())

    def summary(self) -> pd.DataFrame:
        """Per plan and horizon h: the static prediction and what the simulation shows.

        ``cumulative_share``: flow over weeks 1..h with the plan / without it (mean, min, max
        over replications); ``rate_share``: the same over the last 4 weeks up to h (is the flow
        back?); ``cut_g``: grams kept from users and foreign markets over weeks 1..h (mean).
        """
        rows = []
        w = self.weekly
        for plan in [p for p in w["plan"].unique() if p != BASELINE]:
            for h in self.horizons:
                cum, rate, cut = [], [], []
                for r in sorted(w["replication"].unique()):
                    mine = w[(w["plan"] == plan) & (w["replication"] == r)].set_index("week")["target_g"]
                    base = w[(w["plan"] == BASELINE) & (w["replication"] == r)].set_index("week")["target_g"]
                    c_m, c_b = mine.loc[1:h].sum(), base.loc[1:h].sum()
                    r_m, r_b = mine.loc[max(1, h - 3):h].sum(), base.loc[max(1, h - 3):h].sum()
                    cum.append(c_m / c_b if c_b > 0 else np.nan)
                    rate.append(r_m / r_b if r_b > 0 else np.nan)
                    cut.append(c_b - c_m)
                rows.append({"plan": plan, "horizon_weeks": h,
                             "static_share": self.static.get(plan, np.nan),
                             "cumulative_share": float(np.nanmean(cum)) if cum else np.nan,
                             "cumulative_share_min": float(np.nanmin(cum)) if cum else np.nan,
                             "cumulative_share_max": float(np.nanmax(cum)) if cum else np.nan,
                             "rate_share": float(np.nanmean(rate)) if rate else np.nan,
                             "cut_g": float(np.mean(cut)) if cut else np.nan})
        return pd.DataFrame(rows)


def _plans_of(plans) -> tuple[dict[str, list[str]], dict[str, float]]:
    if isinstance(plans, Interdiction):
        plans = plans.plans
    if isinstance(plans, Mapping):
        return {str(k): list(v) for k, v in plans.items()}, {}
    removed, static = {}, {}
    for p in plans:
        if not isinstance(p, Plan):
            raise NetworkError(f"plans must be Plan objects, an Interdiction or a mapping name -> "
                               f"actor node ids; got {type(p).__name__}.")
        removed[p.name] = list(p.removed)
        static[p.name] = p.remaining_flow_g / p.baseline_flow_g if p.baseline_flow_g > 0 else np.nan
    return removed, static


def _reseed(sim: Simulation, seed: int) -> None:
    """Give every named stream of ``sim`` a new seed from now on (a branch of the run)."""
    sim.reseed(seed)


def _weekly(sim: Simulation, start: int, weeks: int, target_codes: np.ndarray) -> pd.DataFrame:
    flows = sim.flow_log.to_frame()
    src, dst = flows["src"].to_numpy(), flows["dst"].to_numpy()
    foreign_src = (src <= -200) & (src > -300)
    masks = {
        "users_g": (dst <= -100) & (dst > -200),
        "abroad_g": (dst <= -200) & (dst > -300) & ~foreign_src,
        "private_abroad_g": (dst <= -200) & (dst > -300) & (src >= 0),
        "target_g": np.isin(dst, target_codes) & ~np.isin(src, target_codes),
    }
    steps = np.arange(start, start + weeks)
    out = {"week": np.arange(1, weeks + 1)}
    for col, m in masks.items():
        out[col] = flows[m].groupby("step")["grams"].sum().reindex(steps, fill_value=0.0).to_numpy() / sim.scale
    return pd.DataFrame(out)


def dynamic_test(snap: Snapshot, plans, *, replications: int = 3,
                 horizons: Iterable[int] = DEFAULT_HORIZONS, targets=TARGET_GROUPS, seed: int = 0,
                 progress=None) -> Recovery:
    """Apply each plan's removals at the snapshot step and run on, against no removal.

    Parameters
    ----------
    snap : Snapshot
        Taken with `narcoflow.network.snapshot` (a graph read from a file has no run to replay).
    plans : Interdiction, list of Plan, or mapping name -> list of actor node ids
    replications : int
        Branches of the run from the snapshot step (>= 1; the first is the run's own future).
    horizons : iterable of int
        Weeks after the removals at which the cut is reported; the runs last the longest.
    targets : str or list of str
        Where the flow is measured, as for `narcoflow.network.interdict` (``users``,
        ``foreign``, ``all`` or node ids); use the targets the plans were made for.
    seed : int
        Seeds the branches r >= 1.
    progress : callable, optional
        Called as ``progress(done, total)`` after each simulated branch.

    Returns
    -------
    Recovery

    Examples
    --------
    >>> from narcoflow.engine import Simulation
    >>> from narcoflow.network import snapshot
    >>> snap = snapshot(Simulation("north-korea-2011", seed=1, scale=0.002, years=2))
    >>> rec = dynamic_test(snap, {"two": []}, replications=1, horizons=(4,))
    >>> float(rec.summary()["cumulative_share"].iloc[0])
    1.0
    """
    if not isinstance(snap, Snapshot) or not snap.info.get("parameters"):
        raise NetworkError("a dynamic test needs a snapshot taken from a run (narcoflow.network."
                           "snapshot), not a graph read from a file.")
    removed, static = _plans_of(plans)
    target_nodes = resolve_targets(snap.graph, targets)
    target_codes = np.array([int(snap.graph.nodes[t]["uid"]) for t in target_nodes], dtype=np.int64)
    horizons = tuple(sorted({int(h) for h in horizons}))
    if not horizons or horizons[0] < 1:
        raise NetworkError(f"horizons {horizons} must be whole numbers of weeks >= 1.")
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise NetworkError(f"replications {replications!r} must be a whole number >= 1.")
    step, weeks = snap.step, horizons[-1]
    base = snap.simulation
    if base is None or base.steps_done != step or base.n_steps < step + weeks:
        base, _ = replay(snap.info, extra_steps=max(0, step + weeks - int(snap.info["steps"])))
        base.init()
        base.run(until=step)
    uid_of = {n: int(snap.graph.nodes[n]["uid"]) for names in removed.values() for n in names
              if n in snap.graph}
    unknown = sorted({n for names in removed.values() for n in names} - set(uid_of))
    if unknown:
        raise NetworkError(f"not actors of this snapshot: {', '.join(unknown[:5])}")
    frames = []
    total = replications * (len(removed) + 1)
    done = 0
    log_backup = base.flow_log
    base.flow_log = None
    try:
        for r in range(replications):
            branch = copy.deepcopy(base)
            if r > 0:
                ss = np.random.SeedSequence([int(snap.info["seed"]), step, r, int(seed)])
                _reseed(branch, int(ss.generate_state(1)[0]))
            for name, nodes in [(BASELINE, []), *removed.items()]:
                sim = copy.deepcopy(branch)
                sim.enable_flow_log()
                a = sim.actors
                want = {uid_of[n] for n in nodes}
                slots = np.flatnonzero(a.active & np.isin(a.uid, list(want)))
                if len(slots) != len(want):
                    raise NetworkError(f"plan {name}: {len(want) - len(slots)} of its actors are not "
                                       f"active at step {step}")
                sim.arrest_actors(slots)
                sim.run(until=step + weeks)
                df = _weekly(sim, step, weeks, target_codes)
                df.insert(0, "replication", r)
                df.insert(0, "plan", name)
                frames.append(df)
                done += 1
                if progress is not None:
                    progress(done, total)
    finally:
        base.flow_log = log_backup
    weekly = pd.concat(frames, ignore_index=True)
    return Recovery(weekly=weekly, static=static, horizons=horizons, removed=removed, targets=target_nodes,
                    info={"run_id": snap.info.get("run_id"), "step": step, "replications": replications})
