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

from narcoflow.engine.flowlog import STATE, FlowLog
from narcoflow.engine.processes.base import Process


class StateExports(Process):
    name = "state_exports"
    claims = ("S8", "S9")

    def init(self, sim) -> None:
        sc = sim.scenario
        self.dest_weights = []
        for c in sc.state.export_channels:
            w = np.array([c.destinations[n].value if n in c.destinations else 0.0
                          for n in sim.dest_names])
            self.dest_weights.append(w / w.sum() if w.sum() > 0 else w)
        self.seizures = [e for e in sc.events if e.type == "state_shipment_seizure"]

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
        rng = sim.rng(self.name)
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
        for ci, c in enumerate(sc.state.export_channels):
            lot = c.lot_g.value * sim.scale
            for d in range(sim.n_drugs):
                available = sim.state_stock[d] * c.share_of_stock_per_week.value
                expected_lots = available / lot
                n_lots = int(expected_lots) + int(rng.random() < expected_lots - int(expected_lots))
                n_lots = min(n_lots, int(sim.state_stock[d] // lot))
                if n_lots == 0 or self.dest_weights[ci].sum() == 0:
                    continue
                dests = rng.choice(len(sim.dest_names), size=n_lots, p=self.dest_weights[ci])
                for dest in dests:
                    prob = sc.border.destinations[dest].interdiction_prob.value
                    self.ship(sim, d, lot, int(dest), ci, c.transit_weeks, c.price_factor.value,
                              prob * c.interdiction_multiplier.value)
