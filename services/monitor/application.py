"""The monitor projection: truancy's outbound events → regional figures per quarter."""

from __future__ import annotations

from typing import Any, ClassVar

from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.truancy import (
    ExemptionGranted,
    ExemptionGrantedV2,
    ReportAnswered,
    ThuiszitterEnded,
    ThuiszitterRegistered,
    VerzuimReportDue,
)
from services.monitor.domain import MonitorError, RegionMonitor, suppress
from services.policy.regions import RegionRules, load_regions
from services.runtime.service import ServiceApplication
from services.runtime.store import Batch


class MonitorApplication(ServiceApplication):
    name = "monitor"
    refusals: ClassVar[tuple[type[Exception], ...]] = (MonitorError,)

    def __init__(
        self, env: dict[str, str] | None = None, regions: dict[str, RegionRules] | None = None
    ) -> None:
        super().__init__(env)
        self.regions = regions if regions is not None else load_regions()
        # child → region of its open episode, rebuilt lazily from the region aggregates
        self._region_of: dict[str, str] = {}

    def handle(self, batch: Batch, message: Any) -> None:
        self.apply(message, batch)

    def _monitor(self, batch: Batch | None, region: str) -> RegionMonitor:
        return self.load(batch, RegionMonitor, region)

    def apply(self, event: Any, batch: Batch | None = None) -> None:
        self.run(batch, lambda work: self._apply(event, work))

    def _apply(self, event: Any, work: Batch) -> None:
        if isinstance(event, ThuiszitterRegistered):
            d = event.data
            self._monitor(work, d.region).start(
                event.subject, d.category, d.since, d.absolute, d.home_reason, d.municipality
            )
        elif isinstance(event, VerzuimReportDue):
            r = event.data
            self._monitor(work, r.region).report(r.report_id, r.kind, r.end_on)
        elif isinstance(event, ThuiszitterEnded):
            self._monitor(work, event.data.region).end(event.subject, event.data.ended_on)
        elif isinstance(event, ExemptionGranted | ExemptionGrantedV2):
            x = event.data
            self._monitor(work, x.region).exemption(
                x.exemption_id, x.article, x.valid_from, x.valid_until
            )
        elif isinstance(event, ReportAnswered) and event.data.home_reason is not None:
            for region in self.regions:
                self._monitor(work, region).reason(event.subject, event.data.home_reason)
        elif isinstance(event, ChildErased):
            for region in self.regions:
                self._monitor(work, region).forget(event.subject)

    def report(self, quarter: str) -> dict[str, Any]:
        """The F4 figures of every region for `quarter`, and of each of its municipalities,
        small counts suppressed."""
        work = Batch(self.repository)  # read only
        regions, municipalities = {}, {}
        for region, rules in sorted(self.regions.items()):
            monitor = self._monitor(work, region)
            below = rules.monitor.suppress_below
            regions[region] = suppress(monitor.figures(quarter), below)
            municipalities[region] = {
                m: suppress(monitor.figures(quarter, m), below) for m in monitor.municipalities()
            }
        return {"quarter": quarter.upper(), "regions": regions, "municipalities": municipalities}

    def annual(self, school_year: str) -> dict[str, Any]:
        """The annual leerplicht figures of every region for a school year, small counts
        suppressed."""
        work = Batch(self.repository)  # read only
        regions = {
            region: suppress(self._monitor(work, region).annual(school_year), below)
            for region, rules in sorted(self.regions.items())
            if (below := rules.monitor.suppress_below)
        }
        return {"school_year": school_year, "regions": regions}
