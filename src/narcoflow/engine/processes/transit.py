"""Product in transit arrives, is interdicted abroad, or is forwarded onward (S8, S13, S14).

- Domestic lots (deliverer -> provincial wholesaler, S11) join the wholesaler's stock; if the
  wholesaler is gone they go to another wholesaler of that region, else wait a week.
- Foreign lots are seized on arrival with the lot's interdiction probability x this week's
  foreign-crackdown multiplier, by the destination's agency. A state lot that arrives earns the
  state its value (grams x destination price x channel price factor, S8).
- Product arriving in a hub (China) is partly forwarded to the markets reached via it (Japan,
  South Korea, S14), each leg with its own transit time and interdiction; the rest is delivered.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import kernels
from narcoflow.engine import state as st
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.processes.base import Process


class Transit(Process):
    name = "transit"
    claims = ("S8", "S13", "S14")

    def init(self, sim) -> None:
        dests = sim.scenario.border.destinations
        onward = [[o for o in dests if o.via == d.name and o.onward_share.value > 0] for d in dests]
        # Onward legs as flat arrays: destination d's legs are leg_first[d]:leg_first[d + 1].
        legs = [o for per_dest in onward for o in per_dest]
        self.leg_first = np.concatenate([[0], np.cumsum([len(x) for x in onward])]).astype(np.int64)
        self.leg_dest = np.array([sim.dest_index[o.name] for o in legs], dtype=np.int64)
        self.leg_share = np.array([o.onward_share.value for o in legs], dtype=float)
        self.leg_weeks = np.array([o.transit_weeks for o in legs], dtype=np.int64)
        self.leg_interdiction = np.array([o.interdiction_prob.value for o in legs], dtype=float)
        self.agency = [d.agency for d in dests]
        self.seized_node = np.array([FlowLog.seized(a) for a in self.agency], dtype=np.int64)
        self.price = np.array([d.price_usd_per_g.value for d in dests])
        # Recorder keys of the flattened grids drug x destination (x channel).
        dn, cn = sim.dest_names, sim.channel_names
        self.seized_keys = [("seized_g", drug, dn[i], self.agency[i]) for drug in sim.drugs for i in range(len(dn))]
        self.revenue_keys = [("state_revenue_usd", None, d, c) for d in dn for c in cn]
        self.delivered_keys = [("delivered_abroad_g", drug, d, c) for drug in sim.drugs for d in dn for c in cn]

    def step(self, sim) -> None:
        sh = sim.shipments
        if sh.n == 0:
            return
        due = sh.view("arrive") <= sim.t
        if not due.any():
            return
        rng = sim.rng(self.name)
        idx = due.nonzero()[0]
        wait = np.zeros(sh.n, dtype=bool)
        dom = idx[~sh.foreign[idx]]
        if len(dom):
            wait[dom] = ~self._deliver_domestic(sim, rng, dom)
        forn = idx[sh.foreign[idx]]
        legs = self._arrive_abroad(sim, rng, forn) if len(forn) else None
        sh.arrive[: sh.n][wait] += 1
        sh.keep(~due | wait)
        if legs is not None:
            sh.add(**legs)

    def _deliver_domestic(self, sim, rng, idx) -> np.ndarray:
        a, sh = sim.actors, sim.shipments
        dest = sh.dest[idx].astype(np.int64)
        ok = dest >= 0
        ok[ok] = a.active[dest[ok]] & (a.role[dest[ok]] == st.WHOLESALER)
        if not ok.all():
            alt = a.pick_in_region(sim.draws(self.name), st.WHOLESALER, sim.n_regions, sh.dest_region[idx][~ok])
            dest[~ok] = alt
            ok = dest >= 0
        lots = idx[ok]
        kernels.add_to_stock(dest[ok], sh.drug[lots], sh.grams[lots], sh.pure[lots], a.stock, a.pure)
        if sim.flow_log is not None and ok.any():
            sim.flow_log.add(sim.t, a.uid[sh.carrier[idx[ok]]], a.uid[dest[ok]], sh.grams[idx[ok]])
        return ok

    def _arrive_abroad(self, sim, rng, idx: np.ndarray) -> dict | None:
        """Foreign lots ``idx`` arrive: interdicted, or delivered and partly forwarded onward
        (`kernels.arrive_abroad`, in lot order). Returns the onward legs as new shipment columns
        (None if there are none)."""
        sh, rec, ledger = sim.shipments, sim.recorder, sim.ledger
        n_dest, n_ch = len(sim.dest_names), len(sim.channel_names)
        seized = np.zeros((sim.n_drugs, n_dest))
        revenue = np.zeros((n_dest, n_ch))
        delivered = np.zeros((sim.n_drugs, n_dest, n_ch))
        d_, og, op, arr, oi, c_, ip, f_src, f_dst, f_g = kernels.arrive_abroad(
            sh.drug[idx], sh.grams[idx], sh.dest[idx], sh.channel[idx], sh.forced[idx], sh.interdiction[idx],
            sh.price_factor[idx], sh.pure[idx], rng.random(len(idx)), sim.foreign_mult, self.price,
            sim.private_channel, self.leg_first, self.leg_dest, self.leg_share, self.leg_weeks,
            self.leg_interdiction, self.seized_node, sim.t, seized, revenue, delivered,
            ledger.seized, ledger.delivered)
        if sim.flow_log is not None:
            sim.flow_log.add(sim.t, f_src, f_dst, f_g)
        rec.record(self.seized_keys, seized.ravel())
        rec.record(self.revenue_keys, revenue.ravel())
        rec.record(self.delivered_keys, delivered.ravel())
        if len(og) == 0:
            return None
        return dict(n=len(og), drug=d_, grams=og, pure=op, arrive=arr, foreign=True, dest=oi, dest_region=-1,
                    channel=c_, carrier=-1, interdiction=ip)
