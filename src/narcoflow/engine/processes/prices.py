"""Prices by tier and region from costs and risks (S11; Reuter & Kleiman 1986, Caulkins &
Reuter 1998), with short-run scarcity and glut around them.

**Long-run anchor** of each tier (per gram sold; region r; h: this week's arrest hazard of one
participant of the tier, ``sim.arrest_hazard`` written by `Enforcement`):
    producer   A_P = precursor + (legal_income + h_P x S_P) / q_P         (zero-profit entry;
                 the ``private:`` values: precursor cost, legal income, penalty, output)
    deliverer  A_D = P_P / (1 - s_D) + (legal_income + h_D x S_D) / q_D   (inside the wholesale tier)
    wholesale  A_W = A_D / (1 - s_W) + (legal_income + h_W x S_W) / q_W
    retail     A_R = P_W / (1 - s_R) + (legal_income + h_R x S_R) / q_R
what the tier pays upstream (P: this week's actual upstream price), replacement of what is
seized (s_k = min(0.5, h_k x weeks of throughput held): an arrested actor loses its stock),
handling cost (legal income forgone per gram handled) and risk compensation (sanction in USD x
hazard per gram handled). S_k and q_k (``prices.sanction_usd``, ``prices.grams_handled_per_week``)
are derived in docs/model.md from E1, E2, T10, T15 and the distribution parameters.
**Short run**: each tier's price returns to its anchor at ``anchor_return_per_week`` (kappa) and is
pushed by scarcity and glut at ``adjustment_speed`` (eta):
    log P_k += kappa x (log A_k - log P_k) + eta x signal_k
    signal   = shortage - glut_weight x glut        (national: producer and wholesale tiers)
    signal_r = shortage_r - glut_weight x glut       (retail, by region)
    shortage = (normal_fill - served / demanded) / normal_fill   (served = 1 where no demand)
    glut     = min(cover / target - 1, 5), cover = weeks of national demand held by the private chain
Markups are outputs (retail / wholesale: C18). Retail stays within [min, max], guards that should
not bind (``guard_hits`` counts the region-weeks they do). Foreign import prices are scenario
inputs (C9, C12-C16), recorded for reference.

**Heroin** has its own chain (C4, Q9, Q18). Its only domestic source is the state heroin the NSA
leaks to wholesalers (`NsaSiphon`), priced at the opium it embodies; the wholesale and retail
tiers add the same margins as for methamphetamine (per gram handled, this week's hazards):
    source     A_0 = opium USD/kg x kg of opium per kg of heroin / 1000   (``prices.heroin_opium_*``)
    wholesale  A_W = A_0 / (1 - s_W) + (legal_income + h_W x S_W) / q_W
    retail     A_R = P_W / (1 - s_R) + (legal_income + h_R x S_R) / q_R
and each returns to its anchor at kappa (no scarcity signal: heroin is a small market that the
national signal does not measure). ``sim.drug_retail_price[drug, region]`` holds each drug's
retail price (what its users pay, `Retail`; cocaine, which nobody in the model uses, at meth's).

**Price per pure gram** (Caulkins 1994; Reuter & Caulkins 2004: price follows expected purity;
C6: sellers cut): ``price_usd_per_pure_g = price_usd_per_g / purity`` by drug, region and tier,
purity being the pure share of what the tier holds at the end of the week (producers and the
state's stock for the producer tier, wholesalers, sellers; where a tier holds none of a drug in a
region (less than a microgram: a rounding residue), its national purity, else the source's:
``private.purity`` S10 for meth, the state's for heroin). The model has no cutting step (purity
only mixes along the chain), so this is an output, not a price rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process
from narcoflow.scenario.schema import DRUGS

METH, HEROIN = DRUGS.index("methamphetamine"), DRUGS.index("heroin")

#: Chain tiers whose margins make up the prices (rows of the anchor parameters): producer,
#: deliverer, wholesaler, seller; their rows in ``sim.arrest_hazard`` (`state.ROLE_NAMES`).
CHAIN = (st.PRODUCER, st.DELIVERER, st.WHOLESALER, st.SELLER)
TRADERS = ("deliverer", "wholesaler", "seller")


def chain_costs(scenario) -> dict[str, np.ndarray]:
    """Per chain tier (`CHAIN`): grams handled per week ``q``, sanction in USD ``S`` and weeks of
    throughput held ``cover`` (what an arrest seizes); and the legal income and precursor cost."""
    pv, pr, dist = scenario.private, scenario.prices, scenario.distribution
    return {
        "q": np.array([pv.output_g_per_week.value] + [pr.grams_handled_per_week[t].value for t in TRADERS]),
        "S": np.array([pv.penalty_cost_usd.value] + [pr.sanction_usd[t].value for t in TRADERS]),
        "cover": np.array([0.0, float(dist.transit_weeks), dist.wholesaler_target_cover_weeks.value,
                           dist.seller_target_cover_weeks.value]),
        "legal": np.array(pv.legal_income_usd_per_week.value),
        "precursor": np.array(pv.precursor_cost_usd_per_g.value),
    }


def _terms(costs: dict, hazard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per chain tier and region: the share of throughput seized and the margin per gram."""
    q, S, cover, legal = costs["q"], costs["S"], costs["cover"], costs["legal"]
    h = hazard[list(CHAIN)]  # [tier, region]
    return np.minimum(0.5, h * cover[:, None]), (legal + h * S[:, None]) / q[:, None]


def heroin_source_price(scenario) -> float:
    """USD per gram of heroin at its source: the opium it embodies (C4, Q18)."""
    pr = scenario.prices
    return pr.heroin_opium_usd_per_kg.value * pr.heroin_opium_kg_per_kg.value / 1000.0


def heroin_anchors(costs: dict, hazard: np.ndarray, source: float, upstream: np.ndarray | None = None,
                   terms: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Long-run heroin anchors (source, wholesale, retail) by region: the state heroin leaked to
    wholesalers at its ``source`` price, plus the wholesale and retail tiers' margins (as in
    `anchors`); retail adds its margin to ``upstream`` (this week's heroin wholesale price) or,
    without it, to the wholesale anchor. ``terms``: `_terms` of the same hazard, if already computed."""
    seized, margin = _terms(costs, hazard) if terms is None else terms
    out = np.empty((3, hazard.shape[1]))
    out[0] = source
    out[1] = source / (1 - seized[2]) + margin[2]
    wholesale = out[1] if upstream is None else upstream
    out[2] = wholesale / (1 - seized[3]) + margin[3]
    return out


def anchors(costs: dict, hazard: np.ndarray, upstream: np.ndarray | None = None,
            terms: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Long-run anchor prices (producer, wholesale, retail) by region, from the arrest hazard by
    role and region (``hazard[role, region]``). Each tier adds its margin to ``upstream`` (this
    week's actual producer and wholesale prices, rows 0 and 1) or, without it, to the upstream
    anchors (the long-run chain). ``terms``: `_terms` of the same hazard, if already computed."""
    seized, margin = _terms(costs, hazard) if terms is None else terms
    out = np.empty((3, hazard.shape[1]))
    out[0] = costs["precursor"] + margin[0]
    producer = out[0] if upstream is None else upstream[0]
    deliverer = producer / (1 - seized[1]) + margin[1]
    out[1] = deliverer / (1 - seized[2]) + margin[2]
    wholesale = out[1] if upstream is None else upstream[1]
    out[2] = wholesale / (1 - seized[3]) + margin[3]
    return out


def initial_hazard(scenario, n_regions: int) -> np.ndarray:
    """The scenario's arrest probabilities by role (then users) and region, before `Enforcement`."""
    enf = scenario.enforcement
    h = np.array([enf.weekly_arrest_prob[r].value for r in st.ROLE_NAMES] + [enf.weekly_arrest_prob["user"].value])
    return np.repeat(h[:, None], n_regions, axis=1)


def initial_drug_retail_prices(scenario, n_regions: int) -> np.ndarray:
    """Retail price by drug (`schema.DRUGS` rows) and region at the start: meth at
    ``prices.initial_retail_usd_per_g``, heroin at its retail anchor (scenario hazards), cocaine at
    meth's (no cocaine users)."""
    meth = scenario.prices.initial_retail_usd_per_g.value
    out = np.full((len(DRUGS), n_regions), meth)
    h = heroin_anchors(chain_costs(scenario), initial_hazard(scenario, n_regions), heroin_source_price(scenario))
    out[HEROIN] = h[2]
    return out


def initial_tier_prices(scenario, n_regions: int) -> np.ndarray:
    """Tier prices at the start (`state.TIERS` rows, by region): the anchors at the scenario's
    arrest probabilities (no capacity limit, no regional policing), retail at
    ``prices.initial_retail_usd_per_g`` (the short run then returns it to its anchor)."""
    a = anchors(chain_costs(scenario), initial_hazard(scenario, n_regions))
    out = np.empty((len(st.TIERS), n_regions))
    out[st.TIER_PRODUCER], out[st.TIER_WHOLESALE] = a[0], a[1]
    out[st.TIER_RETAIL] = scenario.prices.initial_retail_usd_per_g.value
    return out


class Prices(Process):
    name = "prices"
    claims = ("S11",)
    params = ("border.destinations[].price_usd_per_g", "distribution.seller_target_cover_weeks",
              "distribution.transit_weeks", "distribution.wholesaler_target_cover_weeks",
              "enforcement.weekly_arrest_prob", "prices.adjustment_speed", "prices.anchor_return_per_week",
              "prices.glut_weight", "prices.grams_handled_per_week", "prices.heroin_opium_kg_per_kg",
              "prices.heroin_opium_usd_per_kg", "prices.initial_retail_usd_per_g",
              "prices.max_retail_usd_per_g", "prices.min_retail_usd_per_g", "prices.normal_fill",
              "prices.sanction_usd", "private.legal_income_usd_per_week", "private.output_g_per_week",
              "private.penalty_cost_usd", "private.precursor_cost_usd_per_g", "private.purity",
              "state.facilities[].purity")
    reads = ("actors", "arrest_hazard", "shipments", "state_pure", "state_stock", "week_consumed", "week_demand")
    writes = ("drug_retail_price", "retail_price", "tier_price")
    records = ("price_usd_per_g", "price_usd_per_pure_g")

    def init(self, sim) -> None:
        pr, dist = sim.scenario.prices, sim.scenario.distribution
        self.costs = chain_costs(sim.scenario)
        self.kappa, self.eta = pr.anchor_return_per_week.value, pr.adjustment_speed.value
        self.normal, self.glut_weight = pr.normal_fill.value, pr.glut_weight.value
        self.target_cover = float(dist.seller_target_cover_weeks.value + dist.wholesaler_target_cover_weeks.value)
        self.min_retail, self.max_retail = pr.min_retail_usd_per_g.value, pr.max_retail_usd_per_g.value
        sim.tier_price[:] = initial_tier_prices(sim.scenario, sim.n_regions)
        sim.retail_price[:] = sim.tier_price[st.TIER_RETAIL]
        # Heroin's own chain (source, wholesale, retail by region), from its anchors at the start.
        self.heroin_source = heroin_source_price(sim.scenario)
        self.heroin = heroin_anchors(self.costs, initial_hazard(sim.scenario, sim.n_regions), self.heroin_source)
        sim.drug_retail_price[:] = initial_drug_retail_prices(sim.scenario, sim.n_regions)
        facilities = sim.scenario.state.facilities
        self.source_purity = np.array([sim.scenario.private.purity.value,
                                       float(np.mean([f.purity.value for f in facilities])) if facilities else 1.0])
        self.guard_hits = 0  # region-weeks at the retail floor or cap (guards that should not bind)
        dests = sim.scenario.border.destinations
        self.import_price = np.array([d.price_usd_per_g.value for d in dests])
        # Recorded levels: retail, wholesale and producer prices by region (meth, then heroin), then
        # the foreign import prices (scenario inputs); prices per pure gram in the same order.
        self._levels = np.concatenate([np.zeros(6 * sim.n_regions), self.import_price])
        tiers = ("retail", "wholesale", "producer")
        self.price_keys = ([("price_usd_per_g", d, r, tier) for d in ("methamphetamine", "heroin")
                            for tier in tiers for r in sim.region_names]
                           + [("price_usd_per_g", "methamphetamine", d.name, "import") for d in dests])
        self.pure_keys = [("price_usd_per_pure_g", d, r, tier) for d in ("methamphetamine", "heroin")
                          for tier in tiers for r in sim.region_names]

    def step(self, sim) -> None:
        sh = sim.shipments
        nat, shortage_r = market_signal(sim.week_demand, sim.week_consumed, sim.actors.cols, sh.cols, sh.n,
                                        self.normal, self.glut_weight, self.target_cover)
        tp, h = sim.tier_price, sim.arrest_hazard
        kappa, eta = self.kappa, self.eta
        new = np.empty_like(tp)
        upstream = np.empty((2, sim.n_regions))
        # Tier by tier, each anchored on this week's new upstream price (the hazard's terms once).
        terms = _terms(self.costs, h)
        a = anchors(self.costs, h, terms=terms)
        new[st.TIER_PRODUCER] = tp[st.TIER_PRODUCER] * np.exp(
            kappa * np.log(a[0] / tp[st.TIER_PRODUCER]) + eta * nat[0])
        upstream[0] = new[st.TIER_PRODUCER]
        a = anchors(self.costs, h, upstream, terms)
        new[st.TIER_WHOLESALE] = tp[st.TIER_WHOLESALE] * np.exp(
            kappa * np.log(a[1] / tp[st.TIER_WHOLESALE]) + eta * nat[0])
        upstream[1] = new[st.TIER_WHOLESALE]
        a = anchors(self.costs, h, upstream, terms)
        retail = tp[st.TIER_RETAIL] * np.exp(kappa * np.log(a[2] / tp[st.TIER_RETAIL])
                                             + eta * (shortage_r - self.glut_weight * nat[1]))
        self.guard_hits += int(((retail < self.min_retail) | (retail > self.max_retail)).sum())
        new[st.TIER_RETAIL] = np.clip(retail, self.min_retail, self.max_retail)
        tp[:] = new
        sim.retail_price[:] = new[st.TIER_RETAIL]
        # Heroin: source (fixed), wholesale and retail each return to their anchor at kappa.
        her = self.heroin
        a = heroin_anchors(self.costs, h, self.heroin_source, terms=terms)
        her[0] = a[0]
        her[1] = her[1] * np.exp(kappa * np.log(a[1] / her[1]))
        a = heroin_anchors(self.costs, h, self.heroin_source, her[1], terms)
        her[2] = her[2] * np.exp(kappa * np.log(a[2] / her[2]))
        dp = sim.drug_retail_price
        dp[:] = new[st.TIER_RETAIL]  # cocaine (no users) at meth's
        dp[HEROIN] = her[2]
        n_r, levels = sim.n_regions, self._levels  # levels: retail, wholesale, producer by region
        prices = np.stack([new[st.TIER_RETAIL], new[st.TIER_WHOLESALE], new[st.TIER_PRODUCER],
                           her[2], her[1], her[0]])  # [drug x tier, region], in key order
        levels[:6 * n_r] = prices.ravel()
        sim.recorder.record(self.price_keys, levels, level=True)
        purity = tier_purity(sim.actors.cols, sim.n_regions, sim.state_stock, sim.state_pure, self.source_purity)
        sim.recorder.record(self.pure_keys, (prices / purity).ravel(), level=True)


class RecordLevels(Process):
    """End-of-step levels: stocks by holder, in transit, users and active actors by region."""

    name = "record_levels"
    claims = ()
    reads = ("actors", "shipments", "state_stock", "users")
    records = ("active_deliverers", "active_producers", "active_sellers", "active_smugglers", "active_wholesalers",
               "in_transit_g", "stock_g", "users")

    def init(self, sim) -> None:
        # Recorder keys, built once: stocks of the state, of each role and in transit (drug order
        # within each), active actors per role and region.
        drugs, regions = sim.drugs, sim.region_names
        self.stock_keys = ([("stock_g", d, None, "state") for d in drugs]
                           + [("stock_g", d, None, r) for r in st.ROLE_NAMES for d in drugs]
                           + [("in_transit_g", d, None, None) for d in drugs])
        self.active_keys = [(f"active_{r}s", None, reg, None) for r in st.ROLE_NAMES for reg in regions]

    def step(self, sim) -> None:
        a, rec, sh = sim.actors, sim.recorder, sim.shipments
        held = stock_by_role(a.cols, len(st.ROLE_NAMES))
        transit = np.bincount(sh.view("drug"), weights=sh.view("grams"), minlength=sim.n_drugs)
        rec.record(self.stock_keys, np.concatenate([sim.state_stock, held.ravel(), transit]), level=True)
        rec.record(self.active_keys, a.count.ravel(), level=True)  # kept up to date by Actors
        rec.add_by("users", sim.users.region_counts, sim.region_names, dim="region", level=True)


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def market_signal(demand_r, consumed_r, actors, lots, n_lots, normal, glut_weight, target_cover):
    """This week's scarcity and glut (`Prices`): returns ``(national, shortage_r)`` with
    ``national = [shortage - glut_weight x glut, glut]`` and the regional shortage ``shortage_r``
    (served = 1 where there is no demand). Glut: weeks of national demand held by the whole
    private chain (active actors' stock and domestic lots, as the ledger's sum) over the target."""
    stock, active, lot_grams, lot_foreign = actors.stock, actors.active, lots.grams, lots.foreign
    n_r = len(demand_r)
    shortage_r = np.empty(n_r)
    total_demand = 0.0
    total_consumed = 0.0
    for r in range(n_r):
        total_demand += demand_r[r]
        total_consumed += consumed_r[r]
        served = consumed_r[r] / demand_r[r] if demand_r[r] > 0 else 1.0
        shortage_r[r] = (normal - served) / normal
    national = np.zeros(2)
    if total_demand > 0:
        shortage = (normal - total_consumed / total_demand) / normal
        held = 0.0
        for d in range(stock.shape[1]):
            for s in range(len(active)):
                if active[s]:
                    held += stock[s, d]
        for i in range(n_lots):
            if not lot_foreign[i]:
                held += lot_grams[i]
        glut = min(5.0, held / total_demand / target_cover - 1.0)
        national[0] = shortage - glut_weight * glut
        national[1] = glut
    return national, shortage_r


#: Holdings below this many grams are rounding residues of emptied stocks (their pure share is
#: not a purity): a tier holding less of a drug in a region counts as holding none.
MIN_HELD_G = 1e-6

#: Chain role whose stock gives each tier's purity (`state.TIERS` order: retail, wholesale, producer).
_PURITY_ROLES = (st.SELLER, st.WHOLESALER, st.PRODUCER)


@njit(cache=True)
def _held_by_role_region(actors, n_roles, n_regions):
    """Grams and pure grams per role, region and drug held by the active actors."""
    stock, pure, active, role, region = actors.stock, actors.pure, actors.active, actors.role, actors.region
    n_drugs = stock.shape[1]
    g = np.zeros((n_roles, n_regions, n_drugs))
    p = np.zeros((n_roles, n_regions, n_drugs))
    for s in range(len(active)):
        if active[s]:
            for d in range(n_drugs):
                g[role[s], region[s], d] += stock[s, d]
                p[role[s], region[s], d] += pure[s, d]
    return g, p


def tier_purity(actors, n_regions, state_stock, state_pure, source_purity) -> np.ndarray:
    """Purity by (meth, heroin) x tier (retail, wholesale, producer) and region: the pure share of
    what sellers, wholesalers and (meth) producers / (heroin) the state hold; where a tier holds
    none of a drug in a region, its national purity, else ``source_purity[drug]``."""
    g, p = _held_by_role_region(actors, len(st.ROLE_NAMES), n_regions)
    out = np.empty((6, n_regions))
    for i, d in enumerate((METH, HEROIN)):
        for k, role in enumerate(_PURITY_ROLES):
            row = out[3 * i + k]
            if d == HEROIN and role == st.PRODUCER:  # heroin's source: the state's stock
                gg, pp = np.zeros(n_regions), np.zeros(n_regions)
                nat_g, nat_p = state_stock[d], state_pure[d]
            else:
                gg, pp = g[role, :, d], p[role, :, d]
                nat_g, nat_p = gg.sum(), pp.sum()
            fallback = min(nat_p / nat_g, 1.0) if nat_g > MIN_HELD_G and nat_p > 0 else source_purity[i]
            row[:] = fallback
            has = (gg > MIN_HELD_G) & (pp > 0)
            row[has] = np.minimum(pp[has] / gg[has], 1.0)
    return out


@njit(cache=True)
def stock_by_role(actors, n_roles):
    """Grams per role and drug held by the active actors, each role's sum in slot order."""
    stock, active, role = actors.stock, actors.active, actors.role
    out = np.zeros((n_roles, stock.shape[1]))
    for s in range(len(active)):
        if active[s]:
            for d in range(stock.shape[1]):
                out[role[s], d] += stock[s, d]
    return out
