"""Dated exchange rates of the evidence file, to convert prices quoted in won or yuan to USD.

Every rate comes from the "Won rates for converting prices" list of the project's evidence file
(/work/shared/evidence-north-korea.md; Daily NK, Yonhap, RFA) or is implied by a price row that
gives a figure in two currencies (cited in ``rows``). A rate applies only inside its dated
period: a price dated where no rate applies is an error, not a conversion at the nearest rate,
because the won lost most of its value within a few years (about 3,500 old won per USD in
2006-08, 4,400 new won in January 2011 and 9,100 in January 2013).

The won was redenominated 100:1 on 30 November 2009 (`REDENOMINATION`): a won price dated before
that day is in old won, and only rates of old-won periods apply to it (the table's periods make
that so; `check_denomination` says it in an error). `new_won` converts old-won amounts.

Where several rates apply to one date (directly per USD, or won per yuan times yuan per USD) the
result is the range over all of them: the evidence's rates disagree by a few per cent (mid-2014:
8,000 won per USD directly, 7,500 through the yuan), and a target should not pick one.

Examples
--------
>>> to_usd(1_500_000, "KPW", dt.date(2006, 7, 1))   # C1's upper end, old won, per kg
(405.4054054054054, 468.75)
>>> to_usd(120_000, "KPW", dt.date(2014, 7, 1))     # C8: 120,000 KPW per g
(15.0, 16.0)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from narcoflow.errors import NarcoflowError

#: The won's redenomination: 100 old won became 1 new won on this day.
REDENOMINATION = dt.date(2009, 11, 30)

CURRENCIES = ("KPW", "CNY", "USD")


@dataclass(frozen=True)
class Rate:
    """``low``-``high`` units of ``currency`` per one unit of ``per``, from ``first`` to ``last``
    (inclusive), as the evidence file gives it (``rows``: where)."""

    currency: str
    per: str
    first: dt.date
    last: dt.date
    low: float
    high: float
    rows: str

    def applies(self, on: dt.date) -> bool:
        return self.first <= on <= self.last


#: The dated rates (see the module docstring). Periods: "2006-08" is the three calendar years;
#: a month is that month; "mid-2014" is May to August 2014; a yuan rate implied by a 2013 or
#: 2014 price applies to that year.
RATES: tuple[Rate, ...] = (
    Rate("KPW", "USD", dt.date(2006, 1, 1), dt.date(2008, 12, 31), 3200, 3700,
         "won rates 2006-08, old won (implied by C1 and C4)"),
    Rate("KPW", "USD", dt.date(2011, 1, 1), dt.date(2011, 1, 31), 4400, 4400, "won rates, Jan 2011"),
    Rate("KPW", "CNY", dt.date(2012, 12, 1), dt.date(2012, 12, 31), 1400, 1400, "won rates, Dec 2012"),
    Rate("KPW", "USD", dt.date(2013, 1, 1), dt.date(2013, 1, 31), 9100, 9100, "won rates, Jan 2013"),
    Rate("KPW", "USD", dt.date(2014, 5, 1), dt.date(2014, 8, 31), 8000, 8000, "won rates, mid-2014"),
    Rate("KPW", "CNY", dt.date(2014, 7, 1), dt.date(2014, 7, 31), 1200, 1200,
         "won rates, Jul 2014 (120,000 KPW per 100 CNY; also C8)"),
    Rate("CNY", "USD", dt.date(2013, 1, 1), dt.date(2013, 12, 31), 70 / 11, 70 / 11,
         "C7 (70 CNY ~ $11, 2013)"),
    Rate("CNY", "USD", dt.date(2014, 1, 1), dt.date(2014, 12, 31), 100 / 16, 100 / 16,
         "C8 (100 CNY ~ $16, 2014)"),
)


def new_won(amount: float, on: dt.date) -> float:
    """``amount`` won dated ``on`` in new won (old won, before `REDENOMINATION`, divided by 100)."""
    return amount / 100 if on < REDENOMINATION else amount


def check_denomination(currency: str, on: dt.date, rate: Rate) -> None:
    """Raise if a won amount dated ``on`` would be converted with a rate of the other denomination."""
    if currency == "KPW" and (on < REDENOMINATION) != (rate.first < REDENOMINATION):
        raise NarcoflowError(f"won dated {on.isoformat()} are {'old' if on < REDENOMINATION else 'new'} "
                             f"won (100:1 redenomination on {REDENOMINATION.isoformat()}); the rate of "
                             f"{rate.first.isoformat()} ({rate.rows}) is not")


def _routes(currency: str, on: dt.date) -> list[tuple[float, float, str]]:
    """(low, high, rows) of every way to get USD per ``currency`` unit on ``on``: direct rates,
    and won per yuan times yuan per USD."""
    out = []
    for r in RATES:
        if r.currency == currency and r.applies(on):
            check_denomination(currency, on, r)
            if r.per == "USD":
                out.append((1 / r.high, 1 / r.low, r.rows))
            else:
                for s in RATES:
                    if s.currency == r.per and s.per == "USD" and s.applies(on):
                        out.append((1 / (r.high * s.high), 1 / (r.low * s.low), f"{r.rows} x {s.rows}"))
    return out


def to_usd(amount: float, currency: str, on: dt.date) -> tuple[float, float]:
    """``amount`` of ``currency`` dated ``on`` in USD: (low, high) over the rates that apply.

    Raises `NarcoflowError` for an unknown currency or a date no rate of the table covers.
    """
    if currency not in CURRENCIES:
        raise NarcoflowError(f"currency {currency!r} is not one of {', '.join(CURRENCIES)}")
    if currency == "USD":
        return float(amount), float(amount)
    routes = _routes(currency, on)
    if not routes:
        dated = "; ".join(f"{r.first.isoformat()} to {r.last.isoformat()}" for r in RATES if r.currency == currency)
        raise NarcoflowError(f"no {currency} rate of the evidence file applies on {on.isoformat()} "
                             f"(dated {currency} rates: {dated})")
    return min(amount * lo for lo, _, _ in routes), max(amount * hi for _, hi, _ in routes)


def rows_used(currency: str, on: dt.date) -> list[str]:
    """The evidence rows of the rates `to_usd` uses for ``currency`` on ``on``."""
    return [rows for _, _, rows in _routes(currency, on)] if currency != "USD" else []
