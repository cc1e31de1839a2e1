"""State exports (S8) and the dated seizure of a state shipment abroad (S9).

Each channel (diplomats, foreign-currency-earning enterprises) dispatches a share of the NSA's
stock each week in lots (lot size x scale), to destinations drawn by the channel's weights. A lot
travels ``transit_weeks`` and is interdicted on arrival with the destination's probability x the
channel's multiplier (see `Transit`). A ``state_shipment_seizure`` event sends one lot of the
event's size that the destination's authority seizes on arrival (S9: May 2011, Ministry of Foreign
Trade cadre caught in China).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from narcoflow.engine import kernels
from narcoflow.engine.flowlog import STATE, FlowLog
from narcoflow.engine.processes.base import Process


class StateExports(Process):
    name = "state_exports"
    claims = ("S8", "S9")
    params = ("border.destinations[].interdiction_prob", "events", "state.export_channels[].destinations",
              "state.export_channels[].interdiction_multiplier", "state.export_channels[].lot_g",
              "state.export_channels[].price_factor", "state.export_channels[].share_of_stock_per_week",
              "state.export_channels[].transit_weeks")
    writes = ("shipments", "state_pure", "state_stock")
    records = ("exported_g",)

    def init(self, sim) -> None:
        sc = sim.scenario
        channels = sc.state.export_channels
        self.seizures = [e for e in sc.events if e.type == "state_shipment_seizure"]
        # Per channel: cumulative destination weights (normalised; all zero if the channel has
        # none), the interdiction probability of its lots to each destination, and its lots.
        weights = np.array([[c.destinations[n].value if n in c.destinations else 0.0 for n in sim.dest_names]
                            for c in channels], dtype=float).reshape(len(channels), len(sim.dest_names))
        totals = weights.sum(axis=1, keepdims=True)
        self.cum = np.cumsum(np.divide(weights, totals, out=weights.copy(), where=totals > 0), axis=1)
        destination_prob = np.array([d.interdiction_prob.value for d in sc.border.destinations])
        self.inter = np.array([destination_prob * c.interdiction_multiplier.value for c in channels],
                              dtype=float).reshape(len(channels), len(sim.dest_names))
        self.lot = np.array([c.lot_g.value * sim.scale for c in channels], dtype=float)
        self.share = np.array([c.share_of_stock_per_week.value for c in channels], dtype=float)
        self.transit = np.array([c.transit_weeks for c in channels], dtype=np.int64)
        self.price_factor = np.array([c.price_factor.value for c in channels], dtype=float)
        self.exported_keys = [("exported_g", drug, dest, ch.name) for ch in channels for drug in sim.drugs
                              for dest in sim.dest_names]

    def ship(self, sim, drug: int, grams: float, dest: int, channel: int, transit: int,
             price_factor: float, interdiction: float, forced: bool = False) -> None:
        purity = sim.state_pure[drug] / sim.state_stock[drug]
        sim.state_stock[drug] -= grams
        sim.state_pure[drug] -= grams * purity
        sim.shipments.add(drug=[drug], grams=[grams], pure=[grams * purity], arrive=[sim.t + transit],
                          foreign=[True], dest=[dest], dest_region=[-1], channel=[channel],
                          carrier=[-1], forced=[forced], price_factor=[price_factor],
                          interdiction=[interdiction])
        if sim.flow_log is not None:
            sim.flow_log.add(sim.t, STATE, FlowLog.foreign(dest), [grams])
        sim.recorder.add("exported_g", grams, drug=sim.drugs[drug], region=sim.dest_names[dest],
                         channel=sim.channel_names[channel])

    def step(self, sim) -> None:
        sc = sim.scenario
        for ev in self.seizures:
            if sim.date <= ev.start < sim.date + dt.timedelta(days=7):
                d = sim.drugs.index(ev.drug)
                grams = min(ev.grams.value * sim.scale, sim.state_stock[d])
                names = [c.name for c in sc.state.export_channels]
                ch = names.index(ev.channel) if ev.channel in names else 0
                channel = sc.state.export_channels[ch]
                if grams > 0:
                    self.ship(sim, d, grams, sim.dest_index[ev.destination], ch, channel.transit_weeks,
                              channel.price_factor.value, 1.0, forced=True)
        if not len(self.lot):
            return
        ch, drug, dest, pure, inter, exported = kernels.state_exports(
            sim.draws(self.name), sim.state_stock, sim.state_pure, self.lot, self.share, self.cum, self.inter)
        if len(ch) == 0:
            return
        sim.shipments.add(drug=drug, grams=self.lot[ch], pure=pure, arrive=sim.t + self.transit[ch], foreign=True,
                          dest=dest, dest_region=-1, channel=ch, carrier=-1, price_factor=self.price_factor[ch],
                          interdiction=inter)
        sim.recorder.record(self.exported_keys, exported.ravel())
        if sim.flow_log is not None:
            for c, d, de in zip(*exported.nonzero(), strict=True):
                sim.flow_log.add(sim.t, STATE, FlowLog.foreign(int(de)), [exported[c, d, de]])
