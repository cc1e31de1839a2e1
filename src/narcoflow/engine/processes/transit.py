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

from narcoflow.engine import state as st
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.processes.base import Process


class Transit(Process):
    name = "transit"
    claims = ("S8", "S13", "S14")

    def init(self, sim) -> None:
        dests = sim.scenario.border.destinations
        self.onward = {i: [(sim.dest_index[o.name], o) for o in dests if o.via == d.name]
                       for i, d in enumerate(dests)}

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
        new_legs = []
        for i in forn:
            new_legs += self._arrive_abroad(sim, rng, int(i))
        sh.arrive[: sh.n][wait] += 1
        sh.keep(~due | wait)
        for leg in new_legs:
            sh.add(**leg)

    def _deliver_domestic(self, sim, rng, idx) -> np.ndarray:
        a, sh = sim.actors, sim.shipments
        dest = sh.dest[idx].astype(np.int64)
        ok = dest >= 0
        ok[ok] = a.active[dest[ok]] & (a.role[dest[ok]] == st.WHOLESALER)
        if not ok.all():
            alt = a.pick_in_region(rng, st.WHOLESALER, sim.n_regions, sh.dest_region[idx][~ok])
            dest[~ok] = alt
            ok = dest >= 0
        for j in np.flatnonzero(ok):
            k = idx[j]
            a.stock[dest[j], sh.drug[k]] += sh.grams[k]
            a.pure[dest[j], sh.drug[k]] += sh.pure[k]
        if sim.flow_log is not None and ok.any():
            sim.flow_log.add(sim.t, a.uid[sh.carrier[idx[ok]]], a.uid[dest[ok]], sh.grams[idx[ok]])
        return ok

    def _arrive_abroad(self, sim, rng, i) -> list[dict]:
        sh, rec, sc = sim.shipments, sim.recorder, sim.scenario
        d, g, dest, ch = int(sh.drug[i]), float(sh.grams[i]), int(sh.dest[i]), int(sh.channel[i])
        dname, drug, chname = sim.dest_names[dest], sim.drugs[d], sim.channel_names[ch]
        p = 1.0 if sh.forced[i] else min(1.0, sh.interdiction[i] * sim.foreign_mult[dest])
        log = sim.flow_log
        if rng.random() < p:
            agency = sc.border.destinations[dest].agency
            if log is not None:
                log.add(sim.t, FlowLog.foreign(dest), FlowLog.seized(agency), [g])
            rec.add("seized_g", g, drug=drug, region=dname, channel=agency)
            sim.ledger.seized[d] += g
            return []
        if ch != sim.private_channel and sh.price_factor[i] > 0:
            value = g * sc.border.destinations[dest].price_usd_per_g.value * sh.price_factor[i]
            rec.add("state_revenue_usd", value, region=dname, channel=chname)
        legs, rest = [], g
        purity = sh.pure[i] / g if g > 0 else 0.0
        for oi, o in self.onward.get(dest, []):
            share = o.onward_share.value
            if share <= 0:
                continue
            og = g * share
            rest -= og
            if log is not None:
                log.add(sim.t, FlowLog.foreign(dest), FlowLog.foreign(oi), [og])
            legs.append(dict(drug=[d], grams=[og], pure=[og * purity], arrive=[sim.t + o.transit_weeks],
                             foreign=[True], dest=[oi], dest_region=[-1], channel=[ch], carrier=[-1],
                             forced=[False], price_factor=[0.0], interdiction=[o.interdiction_prob.value]))
        rec.add("delivered_abroad_g", rest, drug=drug, region=dname, channel=chname)
        sim.ledger.delivered[d] += rest
        return legs
