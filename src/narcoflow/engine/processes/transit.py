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
    params = ("border.destinations[].agency", "border.destinations[].interdiction_prob",
              "border.destinations[].onward_share", "border.destinations[].price_usd_per_g",
              "border.destinations[].transit_weeks", "border.destinations[].via")
    reads = ("foreign_mult",)
    writes = ("actors", "ledger", "shipments")
    records = ("delivered_abroad_g", "seized_g", "state_revenue_usd")

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
        sh, a, rec = sim.shipments, sim.actors, sim.recorder
        if sh.n == 0:
            return
        n_dest, n_ch = len(sim.dest_names), len(sim.channel_names)
        seized = np.zeros((sim.n_drugs, n_dest))
        revenue = np.zeros((n_dest, n_ch))
        delivered = np.zeros((sim.n_drugs, n_dest, n_ch))
        n = sh.n
        keep, dom_lot, dom_dest, leg_lot, leg_of, leg_g, lost = kernels.transit(
            sim.draws(self.name), sim.t, n, sh.drug, sh.grams, sh.pure, sh.arrive, sh.foreign, sh.dest,
            sh.dest_region, sh.channel, sh.forced, sh.interdiction, sh.price_factor, a.active, a.role,
            st.WHOLESALER, *a.by_region(st.WHOLESALER, sim.n_regions), a.stock, a.pure, sim.foreign_mult,
            self.price, sim.private_channel, self.leg_first, self.leg_dest, self.leg_share, self.leg_weeks,
            self.leg_interdiction, seized, revenue, delivered, sim.ledger.seized, sim.ledger.delivered)
        if keep.all():
            return
        rec.record(self.seized_keys, seized.ravel())
        rec.record(self.revenue_keys, revenue.ravel())
        rec.record(self.delivered_keys, delivered.ravel())
        if sim.flow_log is not None:
            self._log(sim, dom_lot, dom_dest, leg_lot, leg_of, leg_g, lost)
        if len(leg_g):  # onward legs leave from the arrived lots (read before the table shrinks)
            d_ = sh.drug[leg_lot]
            purity = np.divide(sh.pure[leg_lot], sh.grams[leg_lot], out=np.zeros(len(leg_lot)),
                               where=sh.grams[leg_lot] > 0)
            legs = dict(drug=d_, grams=leg_g, pure=leg_g * purity, arrive=sim.t + self.leg_weeks[leg_of],
                        foreign=True, dest=self.leg_dest[leg_of], dest_region=-1, channel=sh.channel[leg_lot],
                        carrier=-1, interdiction=self.leg_interdiction[leg_of])
        sh.keep(keep)
        if len(leg_g):
            sh.add(**legs)

    def _log(self, sim, dom_lot, dom_dest, leg_lot, leg_of, leg_g, lost) -> None:
        """Flow-log this week's arrivals: carrier -> wholesaler, destination -> onward market,
        destination -> the seizing agency."""
        sh, a, log = sim.shipments, sim.actors, sim.flow_log
        log.add(sim.t, a.uid[sh.carrier[dom_lot]], a.uid[dom_dest], sh.grams[dom_lot])
        log.add(sim.t, FlowLog.foreign(sh.dest[leg_lot]), FlowLog.foreign(self.leg_dest[leg_of]), leg_g)
        log.add(sim.t, FlowLog.foreign(sh.dest[lost]), self.seized_node[sh.dest[lost]], sh.grams[lost])
