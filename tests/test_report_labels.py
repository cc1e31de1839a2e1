"""The report's Sankey reads cleanly (issue 17): one mass unit per figure, labels that do not run
into the next column, and static images without the interactive drug menu."""

from __future__ import annotations

import re

from conftest import run
from narcoflow.viz.figures import sankey_figure
from narcoflow.viz.report import static_figure
from narcoflow.viz.style import mass_text, mass_unit


def test_mass_unit_is_one_per_figure():
    assert mass_unit(5e6) == ("kg", 1e-3) and mass_unit(2e8) == ("t", 1e-6)
    assert mass_text(2.04e8, "t") == "204 t" and mass_text(4.1e4, "t") == "0.04 t"
    assert mass_text(1_559_000, "kg") == "1,559 kg" and mass_text(0, "t") == "0 t"


def test_sankey_labels_share_one_unit_and_stay_narrow():
    metrics = run(seed=5, years=3).metrics
    fig = sankey_figure(metrics, destinations=["China", "Japan", "South Korea"])
    for trace in fig.data:
        labels = list(trace.node.label)
        units = {re.search(r"(t|kg)$", lab).group(1) for lab in labels}
        assert len(units) == 1, labels
        assert trace.valuesuffix == f" {units.pop()}"
        # Inner nodes: name and amount on two lines; no line longer than the widest name.
        for lab in labels:
            assert max(len(part) for part in lab.split("<br>")) <= 45, lab


def test_static_sankey_has_no_menu_and_one_view():
    metrics = run(seed=5, years=3).metrics
    fig = sankey_figure(metrics)
    assert fig.layout.updatemenus and len(fig.data) > 1  # interactive: a menu per drug
    still = static_figure(fig)
    assert not still.layout.updatemenus
    assert len(still.data) == 1 and still.data[0].visible is not False
    assert fig.layout.updatemenus  # the interactive figure is left as it was
