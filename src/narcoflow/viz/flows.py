"""Where the product went: the links of the report's Sankey diagram, from metric totals alone.

Every gram produced over the run ends in exactly one sink: consumed in North Korea, seized (by
agency), still in stock, still in transit, or delivered abroad. The links are built from the
flow totals and the last step's levels so that, by the engine's conservation ledger, every
inner node balances (what flows in flows out) and the sinks add up to production:

- state production -> siphoned (S5), state export channels (S8), state stock at the end;
- private production and siphoned product -> the domestic market (producers, couriers,
  wholesalers, sellers);
- domestic market -> consumed, seized by MPS / NSA / border guards, in stock, in transit,
  border crossings (smugglers, S13);
- each export channel -> delivered to each destination (by channel), and the rest -> "shipped
  abroad, not delivered", which splits into seizures abroad (by agency) and lots still in
  transit.

The split of seizures abroad by channel is not recorded by the engine, hence the one pooled
"not delivered" node.

Examples
--------
>>> links = product_flows(results.metrics)                          # doctest: +SKIP
>>> imbalance(links) < 1e-6 * links.attrs["produced_g"]              # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from narcoflow.metrics import LEVEL_METRICS

STATE = "State production (NSA factories)"
PRIVATE = "Private production"
SIPHON = "Siphoned from state factories"
DOMESTIC = "Domestic market"
CONSUMED = "Consumed in North Korea"
STOCK = "In stock at the end"
TRANSIT = "In transit at the end"
UNDELIVERED = "Abroad, not delivered"

CHANNEL_LABELS = {"diplomatic": "Diplomats", "trading_company": "Trading companies",
                  "private": "Border crossings (smugglers)"}
AGENCY_LABELS = {"mps": "MPS (police)", "nsa": "NSA (state security)",
                 "border_guard": "border guards", "china": "Chinese police",
                 "japan": "Japanese police", "south_korea": "South Korean police"}
#: the metrics the links are built from
FLOW_INPUTS = ("produced_g", "siphoned_g", "exported_g", "stock_g", "in_transit_g", "consumed_g",
               "seized_g", "delivered_abroad_g")


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, str(channel).replace("_", " ").capitalize())


def seized_label(agency: str) -> str:
    return f"Seized by {AGENCY_LABELS.get(agency, str(agency).replace('_', ' '))}"


def delivered_label(destination: str) -> str:
    return f"Delivered to {destination}"


def _select(metrics: pd.DataFrame, metric: str, drug: str | None) -> pd.DataFrame:
    df = metrics[metrics["metric"] == metric]
    if drug is not None:
        df = df[df["drug"] == drug]
    return df


def _sum_by(df: pd.DataFrame, col: str) -> dict[str, float]:
    if df.empty:
        return {}
    out = df.astype({col: "object"}).fillna({col: "-"}).groupby(col)["value"].sum()
    return {str(k): float(v) for k, v in out.items()}


def compact(metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows `product_flows` needs, summed over steps (flows) or at the last step (levels).

    The result has the metrics columns (``step`` is the last step) and is tiny, so building
    the links for several drugs costs one pass over the run's metrics.
    """
    if metrics.attrs.get("narcoflow_compact"):
        return metrics
    last = metrics["step"].max() if len(metrics) else 0
    df = metrics[metrics["metric"].isin(FLOW_INPUTS)]
    levels = df["metric"].isin(LEVEL_METRICS)
    df = df[~levels | (df["step"] == last)]
    keys = ["metric", "drug", "region", "channel"]
    df = df.astype({k: "object" for k in keys})
    out = df.groupby(keys, dropna=False, sort=False)["value"].sum().reset_index()
    out["step"] = last
    out.attrs["narcoflow_compact"] = True
    return out


def product_flows(metrics: pd.DataFrame, *, drug: str | None = None,
                  destinations: Iterable[str] | None = None) -> pd.DataFrame:
    """The Sankey links of one run: columns ``source, target, grams`` (grams > 0 only).

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``Results.metrics`` of a run (long form ``step, date, metric, drug, region, channel,
        value``).
    drug : str, optional
        Only this drug; all drugs pooled (in grams) when None.
    destinations : iterable of str, optional
        Names of the foreign markets (``border.destinations[].name``). Seizures whose region is
        one of them are seizures abroad. When None they are read from the metrics (the regions
        of ``exported_g`` and ``delivered_abroad_g``).

    Returns
    -------
    pandas.DataFrame
        One row per link; ``attrs`` holds ``produced_g`` (the total produced) and ``clipped_g``
        (the largest negative remainder set to zero, 0 when the ledger balances).
    """
    metrics = compact(metrics)
    last = metrics["step"].max() if len(metrics) else 0
    flows: list[tuple[str, str, float]] = []

    def final(metric: str) -> pd.DataFrame:
        df = _select(metrics, metric, drug)
        return df[df["step"] == last]

    if destinations is None:
        dests = set(_select(metrics, "exported_g", None)["region"].dropna())
        dests |= set(_select(metrics, "delivered_abroad_g", None)["region"].dropna())
    else:
        dests = set(destinations)

    produced = _sum_by(_select(metrics, "produced_g", drug), "channel")
    state_g, private_g = produced.get("state", 0.0), produced.get("private", 0.0)
    siphon_g = float(_select(metrics, "siphoned_g", drug)["value"].sum())
    exported = _select(metrics, "exported_g", drug)
    exported_by_channel = _sum_by(exported, "channel")
    stock = _sum_by(final("stock_g"), "channel")
    state_stock = stock.pop("state", 0.0)
    transit_g = float(final("in_transit_g")["value"].sum())

    # state sector
    flows.append((STATE, SIPHON, siphon_g))
    for channel, grams in exported_by_channel.items():
        if channel != "private":
            flows.append((STATE, channel_label(channel), grams))
    flows.append((STATE, STOCK, state_stock))
    # private sector and the domestic market
    flows.append((PRIVATE, DOMESTIC, private_g))
    flows.append((SIPHON, DOMESTIC, siphon_g))
    flows.append((DOMESTIC, channel_label("private"), exported_by_channel.get("private", 0.0)))
    flows.append((DOMESTIC, CONSUMED, float(_select(metrics, "consumed_g", drug)["value"].sum())))
    seized = _select(metrics, "seized_g", drug)
    abroad = seized["region"].isin(dests).fillna(False).astype(bool)
    for agency, grams in _sum_by(seized[~abroad], "channel").items():
        flows.append((DOMESTIC, seized_label(agency), grams))
    flows.append((DOMESTIC, STOCK, sum(stock.values())))
    # abroad: delivered by channel, the rest seized abroad or still in transit
    delivered = _select(metrics, "delivered_abroad_g", drug)
    undelivered = 0.0
    for channel, grams in exported_by_channel.items():
        by_dest = _sum_by(delivered[delivered["channel"] == channel], "region")
        for dest, dgrams in by_dest.items():
            flows.append((channel_label(channel), delivered_label(dest), dgrams))
        rest = grams - sum(by_dest.values())
        flows.append((channel_label(channel), UNDELIVERED, rest))
        undelivered += rest
    seized_abroad = _sum_by(seized[abroad], "channel")
    for agency, grams in seized_abroad.items():
        flows.append((UNDELIVERED, seized_label(agency), grams))
    transit_abroad = undelivered - sum(seized_abroad.values())
    flows.append((UNDELIVERED, TRANSIT, transit_abroad))
    flows.append((DOMESTIC, TRANSIT, transit_g - transit_abroad))

    links = pd.DataFrame(flows, columns=["source", "target", "grams"])
    links = links.groupby(["source", "target"], sort=False, as_index=False)["grams"].sum()
    clipped = float(-links["grams"].clip(upper=0).min()) if len(links) else 0.0
    links = links[links["grams"] > 0].reset_index(drop=True)
    links.attrs["produced_g"] = state_g + private_g
    links.attrs["clipped_g"] = clipped
    return links


def node_totals(links: pd.DataFrame) -> pd.DataFrame:
    """Inflow and outflow of every node (grams), with its role: source, stage or sink."""
    inflow = links.groupby("target")["grams"].sum()
    outflow = links.groupby("source")["grams"].sum()
    nodes = pd.DataFrame({"in": inflow, "out": outflow}).fillna(0.0)
    nodes["role"] = "stage"
    nodes.loc[nodes["in"] == 0, "role"] = "source"
    nodes.loc[nodes["out"] == 0, "role"] = "sink"
    return nodes


def imbalance(links: pd.DataFrame) -> float:
    """Largest |inflow - outflow| over inner nodes, and |sources - sinks|, in grams."""
    nodes = node_totals(links)
    inner = nodes[nodes["role"] == "stage"]
    worst = float((inner["in"] - inner["out"]).abs().max()) if len(inner) else 0.0
    sources = nodes.loc[nodes["role"] == "source", "out"].sum()
    sinks = nodes.loc[nodes["role"] == "sink", "in"].sum()
    return max(worst, abs(float(sources - sinks)))
