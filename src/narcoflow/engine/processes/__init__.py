"""The ordered processes of one weekly step.

=====  =======================  ==================  ==========================================
order  process                  claims              what it does
=====  =======================  ==================  ==========================================
 1     Timeline                 S9                  dated events set this week's modifiers
 2     StateProduction          S1, S2, S3, S4      factories produce into the NSA's stock
 3     NsaSiphon                S5                  NSA officials leak state product
 4     StateExports             S8, S9              diplomats / enterprises ship lots abroad
 5     ProducerEntryExit        S6, S7              skilled people enter and leave production
 6     PrivateProduction        S6, S7, S10         producers make low-purity meth
 7     Delivery                 S11                 producer -> deliverer -> wholesaler
 8     BorderSmuggling          S10, S13            wholesaler -> smuggler -> guards -> China
 9     Transit                  S8, S13, S14        arrivals, foreign interdiction, onward legs
10     Restock                  S11, S12            wholesaler -> its sellers
11     Retail                   S11                 sellers -> users; consumption
12     Demand                   S11                 initiation and quitting by province
13     Enforcement              S12                 arrests, seizures, exposure along ties
14     Recruitment              S11, S12, S13       replace losses, rewire orphans
15     Prices                   S11                 retail/wholesale/producer prices move
16     RecordLevels             -                   stocks, users, actors (end of step)
=====  =======================  ==================  ==========================================
"""

from narcoflow.engine.processes.base import Process
from narcoflow.engine.processes.delivery import Delivery
from narcoflow.engine.processes.demand import Demand
from narcoflow.engine.processes.enforcement import Enforcement, exposed_by
from narcoflow.engine.processes.prices import Prices, RecordLevels
from narcoflow.engine.processes.producers import PrivateProduction, ProducerEntryExit
from narcoflow.engine.processes.recruitment import Recruitment
from narcoflow.engine.processes.retail import Restock, Retail
from narcoflow.engine.processes.siphon import NsaSiphon
from narcoflow.engine.processes.smuggling import BorderSmuggling
from narcoflow.engine.processes.state_exports import StateExports
from narcoflow.engine.processes.state_production import StateProduction
from narcoflow.engine.processes.timeline import Timeline
from narcoflow.engine.processes.transit import Transit

PROCESS_ORDER = (
    Timeline, StateProduction, NsaSiphon, StateExports, ProducerEntryExit, PrivateProduction,
    Delivery, BorderSmuggling, Transit, Restock, Retail, Demand, Enforcement, Recruitment,
    Prices, RecordLevels,
)


def default_processes() -> list[Process]:
    """Fresh instances of the processes, in step order."""
    return [cls() for cls in PROCESS_ORDER]


__all__ = ["PROCESS_ORDER", "Process", "default_processes", "exposed_by"]
