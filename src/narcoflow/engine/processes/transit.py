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
        self.onward = [[(sim.dest_index[o.name], o, o.onward_share.value) for o in dests
                        if o.via == d.name and o.onward_share.value > 0] for d in dests]
        self.has_onward = np.array([len(legs) > 0 for legs in self.onward])
        self.agency = [d.agency for d in dests]
        self.price = np.array([d.price_usd_per_g.value for d in dests])

    def step(self, sim) -> None:
        sh = sim.shipments
        if sh.n == 0:
            return
        due = sh.view("arrive") <= sim.t
        if not due.any():
            return
        rng = sim.rng(self.name)
        idx = np.flatnonzero(due)
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
            alt = a.pick_in_region(rng, st.WHOLESALER, sim.n_regions, sh.dest_region[idx][~ok])
            dest[~ok] = alt
            ok = dest >= 0
        lots = idx[ok]
        kernels.add_to_stock(dest[ok], sh.drug[lots], sh.grams[lots], sh.pure[lots], a.stock, a.pure)
        if sim.flow_log is not None and ok.any():
            sim.flow_log.add(sim.t, a.uid[sh.carrier[idx[ok]]], a.uid[dest[ok]], sh.grams[idx[ok]])
        return ok

    def _arrive_abroad(self, sim, rng, idx: np.ndarray) -> dict | None:
        """Foreign lots ``idx`` arrive: interdicted, or delivered and partly forwarded onward.
        Returns the onward legs as new shipment columns (None if there are none). A few lots a
        week: a plain loop, with the records summed per key."""
        sh, rec, ledger, log = sim.shipments, sim.recorder, sim.ledger, sim.flow_log
        cols = [sh.drug[idx], sh.grams[idx], sh.dest[idx], sh.channel[idx], sh.forced[idx],
                sh.interdiction[idx], sh.price_factor[idx], sh.pure[idx], rng.random(len(idx))]
        seized: dict[tuple, float] = {}
        revenue: dict[tuple, float] = {}
        delivered: dict[tuple, float] = {}
        legs = []
        rows = zip(*(c.tolist() for c in cols), strict=True)
        for d, g, dest, ch, forced, interdiction, price_factor, pure, u in rows:
            p = 1.0 if forced else min(1.0, interdiction * sim.foreign_mult[dest])
            if u < p:
                key = (d, dest)
                seized[key] = seized.get(key, 0.0) + g
                ledger.seized[d] += g
                if log is not None:
                    log.add(sim.t, FlowLog.foreign(dest), FlowLog.seized(self.agency[dest]), [g])
                continue
            if ch != sim.private_channel and price_factor > 0:  # the state earns the lot's value (S8)
                key = (dest, ch)
                revenue[key] = revenue.get(key, 0.0) + g * self.price[dest] * price_factor
            rest, purity = g, (pure / g if g > 0 else 0.0)
            for oi, o, share in self.onward[dest]:  # S14: a share goes on to markets via dest
                og = g * share
                rest -= og
                if log is not None:
                    log.add(sim.t, FlowLog.foreign(dest), FlowLog.foreign(oi), [og])
                legs.append((d, og, og * purity, sim.t + o.transit_weeks, oi, ch, o.interdiction_prob.value))
            key = (d, dest, ch)
            delivered[key] = delivered.get(key, 0.0) + rest
            ledger.delivered[d] += rest
        for (d, dest), g in seized.items():
            rec.add("seized_g", g, drug=sim.drugs[d], region=sim.dest_names[dest], channel=self.agency[dest])
        for (dest, ch), v in revenue.items():
            rec.add("state_revenue_usd", v, region=sim.dest_names[dest], channel=sim.channel_names[ch])
        for (d, dest, ch), g in delivered.items():
            rec.add("delivered_abroad_g", g, drug=sim.drugs[d], region=sim.dest_names[dest],
                    channel=sim.channel_names[ch])
        if not legs:
            return None
        d_, og, op, arr, oi, c_, ip = (np.array(x) for x in zip(*legs, strict=True))
        return dict(n=len(og), drug=d_, grams=og, pure=op, arrive=arr, foreign=True, dest=oi, dest_region=-1,
                    channel=c_, carrier=-1, interdiction=ip)
