"""The one output pipeline of the talk and the studies.

* :mod:`.findings` -- claims and findings: verdicts, the rules behind them, formatting.
* :mod:`.plotting` -- the plotting style and helpers, figure files.
* :mod:`.compare` -- theory against simulation (the matcher, the tolerance, rankings).
* :mod:`.report` -- the sections every ``report.md`` is made of.
* :mod:`.output` -- output folders: the ownership rule and its manifest, parameters, Dask client.
"""

from .findings import CONTRADICTED, MISSING, PARTLY, SUPPORTED, Claim, Finding
from .output import MANIFEST, OutputFolder

__all__ = ["Claim", "Finding", "SUPPORTED", "PARTLY", "CONTRADICTED", "MISSING", "OutputFolder", "MANIFEST"]
