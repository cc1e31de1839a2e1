"""State exports (S8) and the dated seizure of a state shipment abroad (S9).

Each channel (diplomats, foreign-currency-earning enterprises) dispatches a share of the NSA's
stock each week in lots of ``lot_g x scale`` simulated grams, to destinations drawn by the
channel's weights: the expected number of lots, ``share x stock / (lot_g x scale)``, is the
full-scale number (the stock is scaled too), stochastically rounded. Divided by the scale, as
every extensive output is reported, each lot has its real size ``lot_g`` at every scale (Q2-Q11:
60-564 kg by sea; Q27: up to 20 kg per diplomat), so what is seized abroad comes in real lumps,
and totals are unbiased with low variance. Shipping full-size lots at a small scale instead
(Poisson(s V / l) lots of l grams, tried in commit 74d0d3d) adds variance of order 1/scale and
floods the miniature domestic market with production brought forward; it was measured worse at
scale 0.002 (japan_seized_1999 median 95 kg -> 0.4 kg, state revenue 2000-05 $84.9 M -> $5.5 M)
and reverted (docs/model.md, StateExports).

A lot travels ``transit_weeks`` and is interdicted on arrival with the destination's probability
x the channel's multiplier (see `Transit`). A ``state_shipment_seizure`` event sends one lot of
the event's size x scale that the destination's authority seizes on arrival (S9: May 2011,
Ministry of Foreign Trade cadre caught in China).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from numba import njit

from narcoflow.engine import bundles
from narcoflow.engine.draws import next_double
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
        destination_prob = np.array([d.interdiction_prob.value for d in sc.border.destinations])
        self.p = bundles.make(
            dest_cum=np.cumsum(np.divide(weights, totals, out=weights.copy(), where=totals > 0), axis=1),
            interdiction=np.array([destination_prob * c.interdiction_multiplier.value for c in channels],
                                  dtype=float).reshape(len(channels), len(sim.dest_names)),
            lot=np.array([c.lot_g.value * sim.scale for c in channels], dtype=float),
            share=np.array([c.share_of_stock_per_week.value for c in channels], dtype=float),
        )
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
        lot = self.p.lot
        if not len(lot):
            return
        ch, drug, dest, pure, inter, exported = _dispatch(sim.draws(self.name), sim.state_stock, sim.state_pure,
                                                          self.p)
        if len(ch) == 0:
            return
        sim.shipments.add(drug=drug, grams=lot[ch], pure=pure, arrive=sim.t + self.transit[ch], foreign=True,
                          dest=dest, dest_region=-1, channel=ch, carrier=-1, price_factor=self.price_factor[ch],
                          interdiction=inter)
        sim.recorder.record(self.exported_keys, exported.ravel())
        if sim.flow_log is not None:
            for c, d, de in zip(*exported.nonzero(), strict=True):
                sim.flow_log.add(sim.t, STATE, FlowLog.foreign(int(de)), [exported[c, d, de]])


@njit(cache=True)
def _dispatch(state, stock, pure, p):
    """The channels' lots of the week: channel c sends, of each drug in the state's ``stock``,
    ``p.share[c]`` of the stock in lots of ``p.lot[c]`` grams (the count stochastically rounded,
    at most the whole lots held), each to a destination drawn by the channel's cumulative weights
    ``p.dest_cum[c]``. Takes the lots out of the state's stock. Returns per lot (channel, drug,
    destination, pure grams, interdiction probability) and the grams per channel, drug and
    destination."""
    lot, share, dest_cum, interdiction = p.lot, p.share, p.dest_cum, p.interdiction
    n_ch, n_dest = dest_cum.shape
    n_drugs = len(stock)
    exported = np.zeros((n_ch, n_drugs, n_dest))
    cap = 16
    l_ch = np.empty(cap, dtype=np.int64)
    l_drug = np.empty(cap, dtype=np.int64)
    l_dest = np.empty(cap, dtype=np.int64)
    l_pure = np.empty(cap)
    l_inter = np.empty(cap)
    k = 0
    for c in range(n_ch):
        if dest_cum[c, n_dest - 1] <= 0:
            continue
        for d in range(n_drugs):
            if stock[d] <= 0:
                continue
            expected = stock[d] * share[c] / lot[c]
            n = int(expected) + (1 if next_double(state) < expected - int(expected) else 0)
            n = min(n, int(stock[d] // lot[c]))
            if n == 0:
                continue
            purity = pure[d] / stock[d]
            stock[d] -= n * lot[c]
            pure[d] -= n * lot[c] * purity
            if k + n > cap:
                cap = 2 * (k + n)
                l_ch, l_drug, l_dest = _grow(l_ch, cap), _grow(l_drug, cap), _grow(l_dest, cap)
                l_pure, l_inter = _grow(l_pure, cap), _grow(l_inter, cap)
            for _ in range(n):
                x = next_double(state) * dest_cum[c, n_dest - 1]
                de = 0
                while de < n_dest - 1 and dest_cum[c, de] <= x:  # inverse CDF
                    de += 1
                l_ch[k], l_drug[k], l_dest[k] = c, d, de
                l_pure[k], l_inter[k] = lot[c] * purity, interdiction[c, de]
                exported[c, d, de] += lot[c]
                k += 1
    return l_ch[:k], l_drug[:k], l_dest[:k], l_pure[:k], l_inter[:k], exported


@njit(cache=True)
def _grow(a, cap):
    out = np.empty(cap, dtype=a.dtype)
    out[: len(a)] = a
    return out
