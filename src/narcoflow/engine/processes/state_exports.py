"""State exports (S8) and the dated seizure of a state shipment abroad (S9), in lots of real size.

A state lot has the same size at every scale (Q2-Q11: 60-564 kg by sea; Q27: up to 20 kg per
diplomat): a scaled-down run ships fewer lots, not smaller ones, so what is seized abroad comes
in lumps as it does in the evidence. Channel c (diplomats, foreign-currency-earning enterprises)
ships each week, of each drug,

    n ~ Poisson(share_c x max(0, position + inflow / K) / lot_c)   whole lots of lot_c grams

where ``position`` is the state's stock minus what it has advanced (below), ``inflow`` this
week's state output net of the siphon, ``share_c`` the channel's ``share_of_stock_per_week`` and
K the sum of the shares. In expectation this ships the grams the earlier rule shipped (share x
stock a week): the position reverts to zero, about where the stock of that rule settled, and
at a scale s the lots come at s times their full-scale rate (``n ~ Poisson(s V / l)``, V the
channel's grams a year at full scale).

**A lot bigger than the stock.** At small scales a lot can outweigh everything the state holds
(a 100 kg lot is 1,250 weeks of state output at scale 0.002). The lot still leaves at its full
size; what the stock lacks is *advanced*: production brought forward, recorded as produced (in the
ledger and ``produced_g``, at the facilities' regions) when the lot leaves, and repaid by the
facilities' next output before it joins the stock (`StateProduction`), so the ledger balances
every week, no stock goes negative and the state never ships more than it has made. While the
position is below ``-inflow / K`` no channel ships, so the advance is at most the lots of one
week. At a scale where a lot outweighs years of state output (scale 0.002: a 100 kg lot is 1,250
weeks) a run ships a lot or none, and its production is recorded in that lump: state exports,
revenue and seizures abroad are then 0 or a multiple of lot / scale in the results (medians over
seeds are often 0; means are unbiased). Use a larger scale for state-sector figures.

Each lot goes to a destination drawn by the channel's weights, travels ``transit_weeks`` and is
interdicted on arrival with the destination's probability x the channel's multiplier (see
`Transit`). A ``state_shipment_seizure`` event sends one lot of the event's size x scale (a single
dated event is not a draw: at full size it would count 1/scale times; what the stock lacks is
advanced as above) that the destination's authority seizes on arrival (S9: May 2011, Ministry of
Foreign Trade cadre caught in China).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numba import njit

from narcoflow.engine import bundles
from narcoflow.engine.draws import next_double, normal
from narcoflow.engine.flowlog import SOURCE, STATE, FlowLog
from narcoflow.engine.processes.base import Process


class StateExports(Process):
    name = "state_exports"
    claims = ("S8", "S9")
    params = ("border.destinations[].interdiction_prob", "events", "state.export_channels[].destinations",
              "state.export_channels[].interdiction_multiplier", "state.export_channels[].lot_g",
              "state.export_channels[].price_factor", "state.export_channels[].share_of_stock_per_week",
              "state.export_channels[].transit_weeks", "state.facilities[].capacity_g_per_week[]",
              "state.facilities[].purity", "state.siphon_rate")
    reads = ("state_output", "state_output_region")
    writes = ("ledger", "shipments", "state_advance", "state_pure", "state_stock")
    records = ("exported_g", "produced_g")

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
            lot=np.array([c.lot_g.value for c in channels], dtype=float),  # real size at every scale
            share=np.array([c.share_of_stock_per_week.value for c in channels], dtype=float),
            # purity of grams advanced while the stock is empty: the factories' mean
            purity0=float(np.mean([f.purity.value for f in sc.state.facilities])) if sc.state.facilities else 1.0,
        )
        # Grams shipped ahead of the output that will replace them, per drug (module docstring).
        # Each facility's capacity per drug (who brings output forward for an advance, pro rata).
        self.capacity = np.zeros((len(sc.state.facilities), sim.n_drugs))
        for i, f in enumerate(sc.state.facilities):
            for drug, q in f.capacity_g_per_week.items():
                self.capacity[i, sim.drugs.index(drug)] = q.value
        self.transit = np.array([c.transit_weeks for c in channels], dtype=np.int64)
        self.price_factor = np.array([c.price_factor.value for c in channels], dtype=float)
        self.exported_keys = [("exported_g", drug, dest, ch.name) for ch in channels for drug in sim.drugs
                              for dest in sim.dest_names]

    def ship(self, sim, drug: int, grams: float, dest: int, channel: int, transit: int,
             price_factor: float, interdiction: float, forced: bool = False) -> None:
        """Send one lot of ``grams`` from the state's stock; what the stock lacks is advanced."""
        stock = sim.state_stock[drug]
        purity = sim.state_pure[drug] / stock if stock > 0 else self.p.purity0
        taken = min(grams, stock)
        sim.state_stock[drug] -= taken
        sim.state_pure[drug] = 0.0 if sim.state_stock[drug] <= 0 else sim.state_pure[drug] - taken * purity
        if grams > taken:
            sim.state_advance[drug] += grams - taken
            sim.ledger.produced[drug] += grams - taken
            self.record_advance(sim, drug, grams - taken)
        sim.shipments.add(drug=[drug], grams=[grams], pure=[grams * purity], arrive=[sim.t + transit],
                          foreign=[True], dest=[dest], dest_region=[-1], channel=[channel],
                          carrier=[-1], forced=[forced], price_factor=[price_factor],
                          interdiction=[interdiction])
        if sim.flow_log is not None:
            sim.flow_log.add(sim.t, STATE, FlowLog.foreign(dest), [grams])
        sim.recorder.add("exported_g", grams, drug=sim.drugs[drug], region=sim.dest_names[dest],
                         channel=sim.channel_names[channel])

    def record_advance(self, sim, d: int, grams: float) -> None:
        """Record ``grams`` of drug ``d`` brought forward for a lot as produced, split over the
        facilities by this week's output (by capacity if none), in their current regions."""
        weights = sim.state_output[:, d] if sim.state_output[:, d].sum() > 0 else self.capacity[:, d]
        if weights.sum() <= 0:
            weights = np.ones(len(weights))
        for i in np.flatnonzero(weights > 0):
            g = grams * float(weights[i] / weights.sum())
            region = sim.region_names[int(sim.state_output_region[i])]
            sim.recorder.add("produced_g", g, drug=sim.drugs[d], region=region, channel="state")
            if sim.flow_log is not None:
                sim.flow_log.add(sim.t, SOURCE, STATE, [g])

    def step(self, sim) -> None:
        sc = sim.scenario
        for ev in self.seizures:
            if sim.date <= ev.start < sim.date + dt.timedelta(days=7):
                d = sim.drugs.index(ev.drug)
                grams = ev.grams.value * sim.scale
                names = [c.name for c in sc.state.export_channels]
                ch = names.index(ev.channel) if ev.channel in names else 0
                channel = sc.state.export_channels[ch]
                if grams > 0:
                    self.ship(sim, d, grams, sim.dest_index[ev.destination], ch, channel.transit_weeks,
                              channel.price_factor.value, 1.0, forced=True)
        lot = self.p.lot
        if not len(lot):
            return
        inflow = sim.state_output.sum(axis=0) * (1.0 - sc.state.siphon_rate.value)
        before = sim.state_advance.copy()
        ch, drug, dest, pure, inter, exported = _dispatch(sim.draws(self.name), sim.state_stock, sim.state_pure,
                                                          sim.state_advance, inflow, sim.ledger.produced, self.p)
        advanced = sim.state_advance - before
        for d in np.flatnonzero(advanced > 0):
            self.record_advance(sim, int(d), float(advanced[d]))
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
def poisson(state, lam):
    """A Poisson(``lam``) draw: inversion of the distribution function up to ``lam`` = 30 (one
    uniform), a rounded normal approximation above (state lots are rarely more than a few a week)."""
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        return max(0, int(np.floor(lam + np.sqrt(lam) * normal(state) + 0.5)))
    u = next_double(state)
    k = 0
    pk = np.exp(-lam)
    cdf = pk
    while u > cdf and k < 200:
        k += 1
        pk *= lam / k
        cdf += pk
    return k


@njit(cache=True)
def _dispatch(state, stock, pure, advance, inflow, produced, p):
    """The channels' lots of the week, each of the full ``p.lot[c]`` grams: channel c sends, of
    each drug, Poisson(``p.share[c]`` x max(0, stock - advance + inflow / sum(share)) / lot) lots,
    each to a destination drawn by the channel's cumulative weights ``p.dest_cum[c]``; what the
    stock lacks for a lot is advanced (added to ``advance`` and to the ledger's ``produced``).
    Returns per lot (channel, drug, destination, pure grams, interdiction probability) and the
    grams per channel, drug and destination."""
    lot, share, dest_cum, interdiction = p.lot, p.share, p.dest_cum, p.interdiction
    n_ch, n_dest = dest_cum.shape
    n_drugs = len(stock)
    exported = np.zeros((n_ch, n_drugs, n_dest))
    total_share = share.sum()
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
            position = stock[d] - advance[d] + (inflow[d] / total_share if total_share > 0 else 0.0)
            if position <= 0:
                continue
            n = poisson(state, share[c] * position / lot[c])
            if n == 0:
                continue
            if k + n > cap:
                cap = 2 * (k + n)
                l_ch, l_drug, l_dest = _grow(l_ch, cap), _grow(l_drug, cap), _grow(l_dest, cap)
                l_pure, l_inter = _grow(l_pure, cap), _grow(l_inter, cap)
            for _ in range(n):
                purity = pure[d] / stock[d] if stock[d] > 0 else p.purity0
                taken = min(lot[c], stock[d])
                short = lot[c] - taken
                stock[d] -= taken
                pure[d] -= taken * purity
                if stock[d] <= 0:
                    stock[d], pure[d] = 0.0, 0.0
                advance[d] += short
                produced[d] += short
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
