"""TOML sweep files (``kdlab sweep --file``): a problem file, the base point, plus the axes.

::

    [data]                      # the base problem: the keys of a problem file (docs/model.md)
    classes = 3                 # K classes: a named geometry, or prior and gram
    geometry = "equal"
    similarity = 0.2
    alpha = 2.0

    [[stages]]                  # stage 0, then the students (as in a problem file)
    kind = "logistic"
    lam = 0.1

    [grid]                      # the axes: any sweep field (the names of -g) -> a list of values,
    alpha = [0.5, 1.0, 2.0]     # a string "START:STOP:NUM[:log]" / "a,b,c", or one value
    similarity = "0:0.6:4"
    stage0.lam = [0.01, 0.1]    # the same as "stage0.lam" or [grid.stage0] lam = ...

    [sweep]                     # optional: backend = "theory", "simulate", "both" or "module:function"
    backend = "theory"

    [theory]                    # optional: the theory's options (kdlab.params.THEORY_OPTIONS)
    tol = 1e-9

    [simulate]                  # optional: n_features, seeds, n_test
    n_features = 200
    seeds = 2

A grid field overrides the base's. A file with one ``[[stages]]`` entry is a teacher alone
(``student = false``) unless its grid names a student field; a file without ``[data]`` and
``[[stages]]`` is a grid alone (as the ``-g`` options). Errors are one line naming the file
and the parameter (:class:`~kdlab.errors.ParameterError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..data import MulticlassMixture, data_kind_of
from ..errors import ParameterError
from ..params import FRESH, SIMULATION_OPTIONS, show
from ..problem import _problem_error, load_toml, solver_tables
from .grid import _split, parse_grid_value

__all__ = ["SweepFile", "read_sweep_file"]

_WHAT = "sweep file"
_TABLES = ("data", "stages", "grid", "sweep", "theory", "simulate")
#: The simulation settings a sweep takes (a fit's ``tol`` is the declared default in sweeps).
_SIM = ("n_features", "seeds", "n_test")


@dataclass(frozen=True)
class SweepFile:
    """What a sweep file holds: the ``grid`` (``{field: values}``), the ``base`` point (from
    ``[data]`` and ``[[stages]]``), the ``backend`` (``None``: not given) and the options of its
    ``[theory]`` and ``[simulate]`` tables (only those given)."""

    path: Path
    grid: dict
    base: dict
    backend: Optional[str] = None
    theory: dict = field(default_factory=dict)
    simulate: dict = field(default_factory=dict)

    def sweep(self, *, backend: Optional[str] = None, theory_options: Optional[Mapping[str, Any]] = None,
              **simulate):
        """The :class:`~kdlab.runs.sweep.Sweep` of the file; the arguments given override the
        file's backend and options. Errors name the file."""
        from .sweep import Sweep

        try:
            return Sweep(self.grid, base=self.base, backend=backend or self.backend or "theory",
                         theory_options={**self.theory, **(theory_options or {})}, **{**self.simulate, **simulate})
        except (ValueError, TypeError) as exc:
            raise _problem_error(self.path, str(exc), _WHAT) from None


def read_sweep_file(path) -> SweepFile:
    """The :class:`SweepFile` of a TOML file (the layout in this module's docstring)."""
    path = Path(path)
    doc = load_toml(path, _WHAT)
    unknown = sorted(set(doc) - set(_TABLES))
    if unknown:
        raise _problem_error(path, f"unknown table(s) {', '.join(unknown)}; expected [data], [[stages]], [grid] "
                                   "and optionally [sweep], [theory], [simulate]", _WHAT)
    for name, typ in (("data", dict), ("stages", list), ("grid", dict), ("sweep", dict)):
        if name in doc and not isinstance(doc[name], typ):
            raise _problem_error(path, f"{'[[stages]]' if typ is list else f'[{name}]'} must be "
                                       f"{'a list of tables' if typ is list else 'a table'}", _WHAT)
    opts = solver_tables(path, doc, _WHAT)
    extra = sorted(set(opts["simulate"]) - set(_SIM))
    if extra:
        raise _problem_error(path, f"[simulate] {extra[0]} is not a sweep setting (a sweep takes "
                                   f"{', '.join(_SIM)}; {extra[0]} keeps its default "
                                   f"{SIMULATION_OPTIONS[extra[0]].default})", _WHAT)
    sweep = dict(doc.get("sweep", {}))
    backend = sweep.pop("backend", None)
    if sweep:
        raise _problem_error(path, f"[sweep] has no setting {sorted(sweep)[0]} (its settings: backend)", _WHAT)
    if backend is not None and not isinstance(backend, str):
        raise _problem_error(path, f"[sweep] backend must be a string, got {show(backend)}", _WHAT)
    try:
        grid = {name: _axis(name, v) for name, v in _flatten(doc.get("grid", {})).items()}
        base = _base(doc.get("data"), doc.get("stages"), grid)
    except (ValueError, TypeError) as exc:
        raise _problem_error(path, str(exc), _WHAT) from None
    if not grid and not base:
        raise _problem_error(path, "needs a [grid] table, or a [data] table and [[stages]]", _WHAT)
    return SweepFile(path, grid, base, backend, opts["theory"], opts["simulate"])


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict:
    """``{"stage0": {"lam": [...]}}`` (TOML's dotted keys) as ``{"stage0.lam": [...]}``."""
    out = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _axis(name: str, value):
    """One grid entry: a string is parsed as on the command line (a range or a comma list)."""
    _split(name)  # an unknown field is an error naming it
    return parse_grid_value(value, name) if isinstance(value, str) else value


def _base(data, stages, grid: Mapping[str, Any]) -> dict:
    """The base point of ``[data]`` and ``[[stages]]`` (the keys of a problem file)."""
    base: dict = {}
    if data is not None:
        data = dict(data)
        kind = data.pop("kind", None)
        if kind is not None:
            cls = data_kind_of({"kind": kind})
            if data_kind_of(data) is not cls and cls is not MulticlassMixture:
                raise ParameterError(f"[data] kind = {kind!r} does not take the K-class parameters given")
            if cls is MulticlassMixture and data_kind_of(data) is not cls:  # the model's default prior / gram
                data.update(prior=list(MulticlassMixture.prior), gram=[list(r) for r in MulticlassMixture.gram])
        base.update(data)
    for k, st in enumerate(stages or ()):
        if not isinstance(st, dict):
            raise ParameterError(f"stage {k} must be a table of parameters, got {show(st)}")
        st = dict(st)
        if "groups" in st or st.get("kind") == "learner":
            raise ParameterError(f"stage {k}: learner stages are not sweep points (use workflow = ... in [grid])")
        d, d_alpha = st.pop("data", None), st.pop("data_alpha", None)
        if isinstance(d, Mapping):
            d_alpha, d = d.get("alpha", d_alpha), d.get("kind", "fresh")
        if d in (None, "shared"):
            if d_alpha is not None:
                raise ParameterError(f"stage {k}: data_alpha is only for data = 'fresh'")
        elif d == "fresh":
            base[f"stage{k}.data_alpha"] = FRESH["alpha"].default if d_alpha is None else d_alpha
        else:
            raise ParameterError(f"stage {k}: data must be 'shared' or 'fresh', got {show(d)}")
        base.update({f"stage{k}.{n}": v for n, v in st.items()})
    if stages is not None and len(stages) == 1 and not any(_names_student(n) for n in grid):
        base["student"] = False
    return base


def _names_student(name: str) -> bool:
    where = _split(name)[0]
    return where in ("last", "student") or (isinstance(where, int) and where > 0)
