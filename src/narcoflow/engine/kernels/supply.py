"""Where product comes from and goes: private producers' entry and exit (S6, S7), the upper
chain (S11), border smuggling (S10, S13), transit and foreign arrivals (S8, S13, S14), and the
state's exports and NSA siphoning (S5, S8)."""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine.draws import binomial, integer, next_double
from narcoflow.engine.kernels.tables import move_stock, row_totals, supplier_totals


@njit(cache=True, inline="always")
def _logistic(x):
    return 1.0 / (1.0 + np.exp(-min(max(x, -50.0), 50.0)))


@njit(cache=True, inline="always")
def _net_gain(output, price, precursor_cost, legal_income, risk):
    """Expected weekly gain of producing over legal work, net of risk (USD), see producers.py."""
    return output * (price - precursor_cost) - legal_income - risk


@njit(cache=True)
def producer_exits(state, producers, output, sell_ema, region, supplier, price_r, enforcement_mult,
                   availability, precursor_cost, legal_income, risk_per_mult, base_exit, max_exit):
    """Producers leaving this week: each with ``base_exit + max_exit x logistic(-net / legal
    income)``, its net gain counting only what it sells; only those with a buyer (a leaver hands
    its stock to its deliverer; without one it stays on a week)."""
    out = np.empty(len(producers), dtype=np.int64)
    n = 0
    for s in producers:
        r = region[s]
        net = _net_gain(output[s] * availability * sell_ema[s], price_r[r], precursor_cost, legal_income,
                        risk_per_mult * enforcement_mult[r])
        p_exit = min(base_exit + max_exit * _logistic(-net / legal_income), 1.0)
        if next_double(state) < p_exit and supplier[s] >= 0:
            out[n] = s
            n += 1
    return out[:n]


@njit(cache=True)
def producer_entries(state, producers, city, sell_ema, city_region, pool_sizes, price_r, enforcement_mult,
                     availability, output_per_week, precursor_cost, legal_income, risk_per_mult, horizon,
                     setup_cost, max_entry):
    """Entrants per chemical city this week: a binomial count of its skilled pool at
    ``max_entry x availability x logistic(value / set-up cost)``, value = horizon x net gain -
    set-up cost, entrants expecting their city's mean sell-through (1 if it has no producer)."""
    n_cities = len(city_region)
    n_local = np.zeros(n_cities)
    sold = np.zeros(n_cities)
    for s in producers:
        n_local[city[s]] += 1
        sold[city[s]] += sell_ema[s]
    k = np.zeros(n_cities, dtype=np.int64)
    for c in range(n_cities):
        r = city_region[c]
        sell = sold[c] / n_local[c] if n_local[c] > 0 else 1.0
        net = _net_gain(output_per_week * availability * sell, price_r[r], precursor_cost, legal_income,
                        risk_per_mult * enforcement_mult[r])
        value = horizon * net - setup_cost
        p_entry = max_entry * availability * _logistic(value / setup_cost)
        k[c] = binomial(state, pool_sizes[c], min(1.0, p_entry))
    return k


@njit(cache=True)
def _tied(slots, supplier):
    """The entries of ``slots`` with a supplier."""
    out = np.empty(len(slots), dtype=np.int64)
    n = 0
    for s in slots:
        if supplier[s] >= 0:
            out[n] = s
            n += 1
    return out[:n]


@njit(cache=True)
def delivery(state, sellers, wholesalers, producers, supplier, demand_ema, export_ema, sell_ema, stock, pure,
             on_the_way, cover, rewire_prob):
    """The upper chain's week (see processes/delivery.py): wholesalers' needs, deliverers' buying
    from their producers, then lots from deliverers to wholesalers pro rata to need; a wholesaler
    served less than half its need leaves its deliverer with ``rewire_prob``.
    ``on_the_way[slot]``: grams in transit to each wholesaler. Returns the producers' moves
    (producer, deliverer, grams per drug: the flow log's) and the lots (deliverer, wholesaler,
    drug, grams, pure grams), whose product has left the deliverers' stocks."""
    cap, n_drugs = stock.shape
    # Wholesalers' needs: target cover x (their sellers' demand + their exports) - held - on the way.
    demand = supplier_totals(sellers, supplier, demand_ema, cap)
    wh = _tied(wholesalers, supplier)
    n_wh = len(wh)
    need_w = np.empty(n_wh)
    need_d = np.zeros(cap)
    for j in range(n_wh):
        w = wh[j]
        held = 0.0
        for d in range(n_drugs):
            held += stock[w, d]
        need_w[j] = max(0.0, cover * (demand[w] + export_ema[w]) - (held + on_the_way[w]))
        need_d[supplier[w]] += need_w[j]
    # Deliverers buy from their producers what their wholesalers lack.
    held_d = row_totals(stock)
    tied = _tied(producers, supplier)
    n_p = len(tied)
    offered = np.zeros(cap)
    for p in tied:
        offered[supplier[p]] += held_d[p]
    frac = np.empty(n_p)
    d_of_p = np.empty(n_p, dtype=np.int64)
    for j in range(n_p):
        p = tied[j]
        dl = supplier[p]
        d_of_p[j] = dl
        o = offered[dl]
        frac[j] = min(1.0, max(0.0, need_d[dl] - held_d[dl]) / o) if o > 0 else 0.0
        if held_d[p] > 0:  # sell-through memory of the producers with product (S7)
            sell_ema[p] = 0.9 * sell_ema[p] + 0.1 * frac[j]
    moved = move_stock(tied, d_of_p, frac, stock, pure)
    # Deliverers ship to their wholesalers pro rata to need.
    held_d = row_totals(stock)
    share = np.zeros(n_wh)
    for j in range(n_wh):
        if need_w[j] > 0:
            dl = supplier[wh[j]]
            share[j] = need_w[j] / max(need_d[dl], held_d[dl])
    lot_src = np.empty(n_wh * n_drugs, dtype=np.int64)
    lot_dst = np.empty(n_wh * n_drugs, dtype=np.int64)
    lot_drug = np.empty(n_wh * n_drugs, dtype=np.int64)
    lot_g = np.empty(n_wh * n_drugs)
    lot_p = np.empty(n_wh * n_drugs)
    k = 0
    for d in range(n_drugs):
        first = k
        for j in range(n_wh):  # shares of the stock held before this drug's lots leave
            dl = supplier[wh[j]]
            g = stock[dl, d] * share[j]
            if g > 0:
                lot_src[k], lot_dst[k], lot_drug[k] = dl, wh[j], d
                lot_g[k], lot_p[k] = g, pure[dl, d] * share[j]
                k += 1
        for i in range(first, k):
            stock[lot_src[i], d] -= lot_g[i]
            pure[lot_src[i], d] -= lot_p[i]
    for j in range(n_wh):  # rounding can leave -1e-17 where a whole stock left
        dl = supplier[wh[j]]
        for d in range(n_drugs):
            stock[dl, d] = max(stock[dl, d], 0.0)
            pure[dl, d] = max(pure[dl, d], 0.0)
    # Search: a wholesaler left short looks for another deliverer.
    for j in range(n_wh):
        if need_w[j] > 0:
            served = share[j] * held_d[supplier[wh[j]]] / need_w[j]
            if served < 0.5 and next_double(state) < rewire_prob:
                supplier[wh[j]] = -1
    return (tied, d_of_p, moved, lot_src[:k], lot_dst[:k], lot_drug[:k], lot_g[:k], lot_p[:k])


@njit(cache=True)
def export_allocation(wholesalers, export_tie, crossing, crossing_open, region, wholesale_r, net_export,
                      max_share, sensitivity, stock, pure, export_ema):
    """Wholesalers tied to a smuggler at an open crossing hand it the export share of their stock,
    ``max_share x logistic(sensitivity x (net export price / wholesale price - 1))`` (S10);
    every wholesaler's weekly export memory decays by 0.8 and gains 0.2 x what it sent. Returns the
    exporting wholesalers, their smugglers and the grams moved per drug (for the flow log)."""
    src = np.empty(len(wholesalers), dtype=np.int64)
    dst = np.empty(len(wholesalers), dtype=np.int64)
    share = np.empty(len(wholesalers))
    n = 0
    for w in wholesalers:
        export_ema[w] *= 0.8
        sm = export_tie[w]
        if sm >= 0 and crossing_open[crossing[sm]]:
            ratio = net_export / wholesale_r[region[w]]
            src[n], dst[n] = w, sm
            share[n] = max_share / (1 + np.exp(-sensitivity * (ratio - 1)))
            n += 1
    for j in range(n):
        held = 0.0
        for d in range(stock.shape[1]):
            held += stock[src[j], d]
        export_ema[src[j]] += 0.2 * (held * share[j])
    return src[:n], dst[:n], move_stock(src[:n], dst[:n], share[:n], stock, pure)


@njit(cache=True)
def border_crossing(state, smugglers, stock, pure, crossing, crossing_open, crossing_region, guard_first,
                    guards, guard_corrupt, bribe_share, china_price, detection_if_bribed, detection_prob,
                    enforcement_mult, bribes_r):
    """Each smuggler with stock at an open crossing crosses with one lot (S13): a guard is drawn;
    a corrupt one takes the bribe share of the lot's value (added to ``bribes_r``) and detects
    with ``detection_if_bribed``, an honest one with ``detection_prob`` x the region's
    enforcement multiplier. Returns the detected smugglers (their stock untouched, to be seized)
    and the lots that passed, drug by drug (smuggler, drug, grams, pure grams), whose stock is
    zeroed here."""
    n_drugs = stock.shape[1]
    caught = np.empty(len(smugglers), dtype=np.int64)
    passed = np.empty(len(smugglers), dtype=np.int64)
    n_caught = 0
    n_passed = 0
    for s in smugglers:
        c = crossing[s]
        grams = 0.0
        for d in range(n_drugs):
            grams += stock[s, d]
        if not (grams > 0 and crossing_open[c]):
            continue
        corrupt = guard_corrupt[guard_first[c] + integer(state, guards[c])]
        r = crossing_region[c]
        if corrupt:
            bribes_r[r] += bribe_share * grams * china_price
            p_detect = detection_if_bribed
        else:
            p_detect = min(1.0, detection_prob * enforcement_mult[r])
        if next_double(state) < p_detect:
            caught[n_caught] = s
            n_caught += 1
        else:
            passed[n_passed] = s
            n_passed += 1
    lot_src = np.empty(n_passed * n_drugs, dtype=np.int64)
    lot_drug = np.empty(n_passed * n_drugs, dtype=np.int64)
    lot_g = np.empty(n_passed * n_drugs)
    lot_p = np.empty(n_passed * n_drugs)
    k = 0
    for d in range(n_drugs):
        for j in range(n_passed):
            s = passed[j]
            if stock[s, d] > 0:
                lot_src[k], lot_drug[k], lot_g[k], lot_p[k] = s, d, stock[s, d], pure[s, d]
                stock[s, d] = 0.0
                pure[s, d] = 0.0
                k += 1
    return caught[:n_caught], lot_src[:k], lot_drug[:k], lot_g[:k], lot_p[:k]


@njit(cache=True)
def transit(state, t, n, drug, grams, pure, arrive, foreign, dest, dest_region, channel, forced,
            interdiction, price_factor, active, role, wholesaler, wh_sorted, wh_starts, wh_counts, stock,
            a_pure, foreign_mult, price, private_channel, leg_first, leg_dest, leg_share, leg_weeks,
            leg_interdiction, seized, revenue, delivered, ledger_seized, ledger_delivered):
    """The lots in transit that are due arrive, in lot order (see processes/transit.py).

    A domestic lot joins its wholesaler's stock, or another wholesaler's of its region if its own
    is gone, or waits a week. A foreign lot is interdicted with its probability, or delivered, a
    share of it going on along the onward legs of its destination (``leg_first[dest]:
    leg_first[dest + 1]``). Sums per key go to ``seized[drug, dest]``, ``revenue[dest, channel]``
    and ``delivered[drug, dest, channel]``, and to the ledger. Returns the mask of the lots still
    in transit, the domestic deliveries (lot, wholesaler) and the foreign arrivals' onward legs
    (lot, leg) and interdicted lots, in lot order."""
    keep = np.ones(n, dtype=np.bool_)
    dom_lot = np.empty(n, dtype=np.int64)
    dom_dest = np.empty(n, dtype=np.int64)
    max_legs = max(1, np.max(leg_first[1:] - leg_first[:-1])) if len(leg_first) > 1 else 1
    leg_lot = np.empty(n * max_legs, dtype=np.int64)
    leg_of = np.empty(n * max_legs, dtype=np.int64)
    leg_g = np.empty(n * max_legs)
    lost_lot = np.empty(n, dtype=np.int64)
    n_dom = 0
    n_leg = 0
    n_lost = 0
    for i in range(n):
        if arrive[i] > t:
            continue
        d, g = drug[i], grams[i]
        if not foreign[i]:
            w = dest[i]
            if not (w >= 0 and active[w] and role[w] == wholesaler):
                r = dest_region[i]
                c = wh_counts[r]
                w = wh_sorted[wh_starts[r] + integer(state, c)] if c > 0 else -1
            if w < 0:
                arrive[i] += 1  # no wholesaler in the region: the lot waits a week
                continue
            stock[w, d] += g
            a_pure[w, d] += pure[i]
            dom_lot[n_dom], dom_dest[n_dom] = i, w
            n_dom += 1
            keep[i] = False
            continue
        keep[i] = False
        de, ch = dest[i], channel[i]
        p = 1.0 if forced[i] else min(1.0, interdiction[i] * foreign_mult[de])
        if next_double(state) < p:
            seized[d, de] += g
            ledger_seized[d] += g
            lost_lot[n_lost] = i
            n_lost += 1
            continue
        if ch != private_channel and price_factor[i] > 0:  # the state earns the lot's value (S8)
            revenue[de, ch] += g * price[de] * price_factor[i]
        rest = g
        for j in range(leg_first[de], leg_first[de + 1]):  # S14: a share goes on to markets via de
            og = g * leg_share[j]
            rest -= og
            leg_lot[n_leg], leg_of[n_leg], leg_g[n_leg] = i, j, og
            n_leg += 1
        delivered[d, de, ch] += rest
        ledger_delivered[d] += rest
    return keep, dom_lot[:n_dom], dom_dest[:n_dom], leg_lot[:n_leg], leg_of[:n_leg], leg_g[:n_leg], lost_lot[:n_lost]


@njit(cache=True)
def state_exports(state, stock, pure, lot, share, dest_cum, interdiction):
    """The channels' lots of the week (see processes/state_exports.py): channel c sends, of each
    drug in the state's stock, ``share[c]`` of the stock in lots of ``lot[c]`` grams (the count
    stochastically rounded, at most the whole lots held), each to a destination drawn by the
    channel's cumulative weights ``dest_cum[c]``. Takes the lots out of the state's stock.
    Returns per lot (channel, drug, destination, pure grams, interdiction probability) and the
    grams per channel, drug and destination."""
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
                l_ch, l_drug, l_dest = _grow_int(l_ch, cap), _grow_int(l_drug, cap), _grow_int(l_dest, cap)
                l_pure, l_inter = _grow_float(l_pure, cap), _grow_float(l_inter, cap)
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
def _grow_int(a, cap):
    out = np.empty(cap, dtype=np.int64)
    out[: len(a)] = a
    return out


@njit(cache=True)
def _grow_float(a, cap):
    out = np.empty(cap)
    out[: len(a)] = a
    return out


@njit(cache=True)
def siphon(state, output, output_region, rate, state_stock, state_pure, wh_sorted, starts, counts,
           stock, pure, siphoned):
    """NSA officials leak ``rate`` of each facility's output to a random wholesaler of the
    facility's region, or of any region if it has none (S5); grams per drug and region go to
    ``siphoned``. Returns (wholesaler, drug, grams) per leak, for the flow log."""
    n_fac, n_drugs = output.shape
    who = np.empty(n_fac * n_drugs, dtype=np.int64)
    what = np.empty(n_fac * n_drugs, dtype=np.int64)
    grams = np.empty(n_fac * n_drugs)
    k = 0
    total = len(wh_sorted)
    if total == 0:
        return who[:0], what[:0], grams[:0]
    for i in range(n_fac):
        r = output_region[i]
        if counts[r] > 0:
            w = wh_sorted[starts[r] + integer(state, counts[r])]
        else:
            w = wh_sorted[integer(state, total)]
        for d in range(n_drugs):
            g = min(output[i, d] * rate, state_stock[d])
            if g <= 0:
                continue
            purity = state_pure[d] / state_stock[d]
            state_stock[d] -= g
            state_pure[d] -= g * purity
            stock[w, d] += g
            pure[w, d] += g * purity
            siphoned[d, r] += g
            who[k], what[k], grams[k] = w, d, g
            k += 1
    return who[:k], what[:k], grams[:k]
