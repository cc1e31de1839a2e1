"""Prices: the engine's process 15 as methods of `ReferenceModel` (`PricesMixin`): long-run
anchors of each tier (Reuter & Kleiman 1986), meth's and heroin's chains, each tier's purity,
and the weekly price update with scarcity and glut.
"""

from __future__ import annotations

import numpy as np

from narcoflow.scenario import DRUGS
from narcoflow_reference.agents import (
    Actor,
    Producer,
    Seller,
    Wholesaler,
)
from narcoflow_reference.enforcement import HAZARD_ROWS


class PricesMixin:
    """Process 15 (prices); mixed into `ReferenceModel`."""

    # 15 -------------------------------------------------------------- Prices (S11)
    def anchors(self, hazard: np.ndarray, upstream: np.ndarray | None = None) -> np.ndarray:
        """Long-run anchor prices (producer, wholesale, retail) by region: each tier adds to what it
        pays upstream (``upstream``: this week's producer and wholesale prices, or the upstream
        anchors) the replacement of what is seized, the legal income forgone per gram handled and
        the sanction x arrest hazard per gram handled (Reuter & Kleiman 1986)."""
        sc = self.scenario
        pv, pr, dist = sc.private, sc.prices, sc.distribution
        legal = pv.legal_income_usd_per_week.value
        out = np.zeros((3, self.n_regions))
        for r in range(self.n_regions):
            def margin(role, q, sanction, cover, r=r):
                h = hazard[HAZARD_ROWS.index(role), r]
                return 1.0 / (1.0 - min(0.5, h * cover)), (legal + h * sanction) / q
            producer = pv.precursor_cost_usd_per_g.value + margin(
                "producer", pv.output_g_per_week.value, pv.penalty_cost_usd.value, 0.0)[1]
            out[0, r] = producer
            if upstream is not None:
                producer = upstream[0, r]
            tiers = {t: margin(t, pr.grams_handled_per_week[t].value, pr.sanction_usd[t].value, cover)
                     for t, cover in (("deliverer", float(dist.transit_weeks)),
                                      ("wholesaler", dist.wholesaler_target_cover_weeks.value),
                                      ("seller", dist.seller_target_cover_weeks.value))}
            deliverer = producer * tiers["deliverer"][0] + tiers["deliverer"][1]
            out[1, r] = deliverer * tiers["wholesaler"][0] + tiers["wholesaler"][1]
            wholesale = out[1, r] if upstream is None else upstream[1, r]
            out[2, r] = wholesale * tiers["seller"][0] + tiers["seller"][1]
        return out

    def heroin_anchors(self, hazard: np.ndarray, wholesale: np.ndarray | None = None) -> np.ndarray:
        """Heroin's anchors (source, wholesale, retail) by region: the NSA's leaked state heroin at
        the value of the opium it embodies (C4, Q18), then the wholesaler's and the seller's
        margins, as for meth; retail on ``wholesale`` (this week's heroin wholesale price) if given."""
        sc = self.scenario
        pv, pr, dist = sc.private, sc.prices, sc.distribution
        legal = pv.legal_income_usd_per_week.value
        source = pr.heroin_opium_usd_per_kg.value * pr.heroin_opium_kg_per_kg.value / 1000.0
        out = np.zeros((3, self.n_regions))
        for r in range(self.n_regions):
            terms = {}
            for t, cover in (("wholesaler", dist.wholesaler_target_cover_weeks.value),
                             ("seller", dist.seller_target_cover_weeks.value)):
                h = hazard[HAZARD_ROWS.index(t), r]
                terms[t] = (1.0 / (1.0 - min(0.5, h * cover)),
                            (legal + h * pr.sanction_usd[t].value) / pr.grams_handled_per_week[t].value)
            out[0, r] = source
            out[1, r] = source * terms["wholesaler"][0] + terms["wholesaler"][1]
            w = out[1, r] if wholesale is None else wholesale[r]
            out[2, r] = w * terms["seller"][0] + terms["seller"][1]
        return out

    def tier_purity(self, drug: int, cls: type[Actor] | None) -> np.ndarray:
        """Pure share of what the active actors of ``cls`` (None: the state) hold of ``drug`` by
        region; where they hold none in a region, their national purity, else the source's
        (``private.purity`` for meth, the state facilities' mean for heroin)."""
        g, p = np.zeros(self.n_regions), np.zeros(self.n_regions)
        if cls is None:
            nat_g, nat_p = self.state_stock[drug], self.state_pure[drug]
        else:
            for a in self.actors_of(cls):
                g[a.region] += a.stock[drug]
                p[a.region] += a.pure[drug]
            nat_g, nat_p = g.sum(), p.sum()
        if nat_g > 1e-6 and nat_p > 0:  # below a microgram: a rounding residue, as held none
            fallback = min(nat_p / nat_g, 1.0)
        elif self.drugs[drug] == "heroin":
            fallback = float(np.mean([f.purity.value for f in self.scenario.state.facilities]))
        else:
            fallback = self.scenario.private.purity.value
        return np.array([min(p[r] / g[r], 1.0) if g[r] > 1e-6 and p[r] > 0 else fallback
                         for r in range(self.n_regions)])

    def prices(self) -> None:
        """Each tier's price returns to its anchor (costs and risks, this week's arrest hazard) at
        ``anchor_return_per_week`` and moves with scarcity and glut at ``adjustment_speed``: national
        shortage and glut for the producer and wholesale tiers, the region's for retail."""
        pr, dist, rec = self.scenario.prices, self.scenario.distribution, self.recorder
        normal = pr.normal_fill.value
        kappa, eta = pr.anchor_return_per_week.value, pr.adjustment_speed.value
        demand = self.week_demand
        served = np.divide(self.week_consumed, demand, out=np.ones(self.n_regions), where=demand > 0)
        shortage_r = (normal - served) / normal
        total = demand.sum()
        signal, glut = 0.0, 0.0
        if total > 0:
            shortage = (normal - self.week_consumed.sum() / total) / normal
            held = sum(a.held() for a in self.all_actors())
            held += sum(lot.grams for lot in self.lots if not lot.foreign)
            target = dist.seller_target_cover_weeks.value + dist.wholesaler_target_cover_weeks.value
            glut = min(5.0, held / total / target - 1.0)
            signal = shortage - pr.glut_weight.value * glut
        tp, h = self.tier_price, self.arrest_hazard
        tp[0] = tp[0] * np.exp(kappa * np.log(self.anchors(h)[0] / tp[0]) + eta * signal)
        tp[1] = tp[1] * np.exp(kappa * np.log(self.anchors(h, tp)[1] / tp[1]) + eta * signal)
        retail = tp[2] * np.exp(kappa * np.log(self.anchors(h, tp)[2] / tp[2])
                                + eta * (shortage_r - pr.glut_weight.value * glut))
        tp[2] = np.clip(retail, pr.min_retail_usd_per_g.value, pr.max_retail_usd_per_g.value)
        self.retail_price[:] = tp[2]
        hp = self.heroin_price  # heroin: each tier returns to its anchor at kappa
        hp[0] = self.heroin_anchors(h)[0]
        hp[1] = hp[1] * np.exp(kappa * np.log(self.heroin_anchors(h)[1] / hp[1]))
        hp[2] = hp[2] * np.exp(kappa * np.log(self.heroin_anchors(h, hp[1])[2] / hp[2]))
        heroin = DRUGS.index("heroin")
        self.drug_retail_price[:] = tp[2]
        self.drug_retail_price[heroin] = hp[2]
        for drug, d, p in (("methamphetamine", DRUGS.index("methamphetamine"), tp), ("heroin", heroin, hp)):
            for tier, values, cls in (("retail", p[2], Seller), ("wholesale", p[1], Wholesaler),
                                      ("producer", p[0], Producer if drug == "methamphetamine" else None)):
                rec.add_by("price_usd_per_g", values, self.region_names, dim="region", drug=drug,
                           channel=tier, level=True)
                rec.add_by("price_usd_per_pure_g", values / self.tier_purity(d, cls), self.region_names,
                           dim="region", drug=drug, channel=tier, level=True)
        for d in self.scenario.border.destinations:
            rec.set("price_usd_per_g", d.price_usd_per_g.value, drug="methamphetamine", region=d.name,
                    channel="import")
