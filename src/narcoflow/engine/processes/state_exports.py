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
        self.dest_cum = [np.cumsum(w) for w in self.dest_weights]
        # Interdiction probability of a lot of channel c to each destination.
        self.interdiction = [np.array([d.interdiction_prob.value for d in sc.border.destinations])
                             * c.interdiction_multiplier.value for c in sc.state.export_channels]
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
            weights = self.dest_cum[ci]
            if weights[-1] <= 0:
                continue
            for d in range(sim.n_drugs):
                if sim.state_stock[d] <= 0:
                    continue
                available = sim.state_stock[d] * c.share_of_stock_per_week.value
                expected_lots = available / lot
                n_lots = int(expected_lots) + int(rng.random() < expected_lots - int(expected_lots))
                n_lots = min(n_lots, int(sim.state_stock[d] // lot))
                if n_lots == 0:
                    continue
                # Destinations by the channel's weights (inverse CDF), one lot each.
                dests = np.minimum(np.searchsorted(weights, rng.random(n_lots) * weights[-1], side="right"),
                                   len(weights) - 1)
                self.ship_lots(sim, d, lot, dests, ci, c)

    def ship_lots(self, sim, drug: int, lot: float, dests: np.ndarray, ci: int, c) -> None:
        """Dispatch ``len(dests)`` lots of ``lot`` grams of ``drug`` through channel ``ci``."""
        n = len(dests)
        grams = n * lot
        purity = sim.state_pure[drug] / sim.state_stock[drug]
        sim.state_stock[drug] -= grams
        sim.state_pure[drug] -= grams * purity
        sim.shipments.add(n=n, drug=drug, grams=lot, pure=lot * purity, arrive=sim.t + c.transit_weeks,
                          foreign=True, dest=dests, dest_region=-1, channel=ci, carrier=-1,
                          price_factor=c.price_factor.value, interdiction=self.interdiction[ci][dests])
        per_dest = np.bincount(dests, minlength=len(sim.dest_names)) * lot
        if sim.flow_log is not None:
            for dest in per_dest.nonzero()[0].tolist():
                sim.flow_log.add(sim.t, STATE, FlowLog.foreign(int(dest)), [per_dest[dest]])
        sim.recorder.add_by("exported_g", per_dest, sim.dest_names, dim="region", drug=sim.drugs[drug],
                            channel=sim.channel_names[ci])
