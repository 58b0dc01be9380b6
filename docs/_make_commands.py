"""Regenerate the option tables of docs/commands/*.md from the command line itself, and the
table of declared parameters in docs/api/params.md from :mod:`kdlab.params`.

    PYTHONPATH=src python docs/_make_commands.py          # rewrite the tables
    PYTHONPATH=src python docs/_make_commands.py --check  # exit 1 if a table is stale

Each table sits between ``<!-- options: COMMAND -->`` and ``<!-- /options -->`` in its page;
its rows are the help records of the command's parameters (the text ``kdlab COMMAND --help``
prints: option names, type, help, default), in the order of ``--help``. The prose around the
tables is written by hand. The parameter table sits between ``<!-- params -->`` and
``<!-- /params -->``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PAGES = DOCS / "commands"
PARAMS_PAGE = DOCS / "api" / "params.md"
PARAMS_MARK = re.compile(r"(<!-- params -->\n)(.*?)(<!-- /params -->)", re.S)
MARK = re.compile(r"(<!-- options: (?P<cmd>[a-z -]+?) -->\n)(?P<body>.*?)(<!-- /options -->)", re.S)


def _command(path: str):
    import typer.main

    from kdlab.cli import app

    cmd = typer.main.get_command(app)
    for part in path.split():
        cmd = cmd.commands[part]
    return cmd


def _cell(text: str) -> str:
    return text.replace("|", "\\|").strip()


def option_rows(path: str) -> list[tuple[str, str, str]]:
    """``(names, type, help)`` of every parameter of ``kdlab PATH`` but ``--help``."""
    cmd = _command(path)
    ctx_cls = type(cmd).context_class
    ctx = ctx_cls(cmd, info_name=path.split()[-1])
    rows = []
    for p in cmd.get_params(ctx):
        if p.name == "help":
            continue
        record = p.get_help_record(ctx)
        if record is None:  # hidden
            continue
        first, help_text = record
        if p.param_type_name == "argument":
            names = f"`{p.name.upper()}` (argument)"
        else:
            longs = sorted(p.opts, key=lambda o: (not o.startswith("--"), o))
            names = ", ".join(f"`{o}`" for o in longs)
            if p.secondary_opts:
                names += " / " + ", ".join(f"`{o}`" for o in p.secondary_opts)
        m = re.search(r"\s(<[^>]+>|[A-Z]+)$", first)
        kind = m.group(1).strip("<>").lower() if m else "bool"
        help_text = re.sub(r"\s+\[default: (.*?)\]", r" Default: `\1`.", help_text)
        help_text = re.sub(r"\s+\[required\]", " **Required.**", help_text)
        rows.append((names, kind, _cell(help_text)))
    return rows


def table(path: str) -> str:
    lines = ["| option | type | description |", "|---|---|---|"]
    lines += [f"| {n} | {t} | {h} |" for n, t, h in option_rows(path)]
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    return MARK.sub(lambda m: m.group(1) + table(m.group("cmd")) + m.group(4), text)


def params_table() -> str:
    """Every declaration of :mod:`kdlab.params`: object, name, type, default, range, help."""
    from kdlab import params

    groups = [("DATA", "[`GaussianMixture`][kdlab.problem.GaussianMixture]", params.DATA),
              ("MULTICLASS_DATA", "[`MulticlassMixture`][kdlab.problem.MulticlassMixture]", params.MULTICLASS_DATA),
              ("GEOMETRY", "`kdlab.data.named_gram`", params.GEOMETRY),
              ("LOGISTIC_TEACHER", "[`LogisticTeacher`][kdlab.problem.LogisticTeacher]", params.LOGISTIC_TEACHER),
              ("BAYES_TEACHER", "[`BayesOptimalTeacher`][kdlab.problem.BayesOptimalTeacher]", params.BAYES_TEACHER),
              ("STUDENT", "[`Student`][kdlab.problem.Student]", params.STUDENT),
              ("FRESH", "[`Fresh`][kdlab.problem.Fresh]", params.FRESH),
              ("LEARNER", "[`Learner`][kdlab.problem.Learner]", params.LEARNER),
              ("GROUP", "[`Group`][kdlab.problem.Group]", params.GROUP),
              ("FROM_STAGE", "[`from_stage`][kdlab.problem.from_stage]", params.FROM_STAGE),
              ("WORKFLOW", "[`kdlab.workflows`][kdlab.workflows]", params.WORKFLOW),
              ("THEORY_OPTIONS", "[`theory.solve`][kdlab.theory.solve]", params.THEORY_OPTIONS),
              ("SIMULATION_OPTIONS", "[`simulate`][kdlab.simulate]", params.SIMULATION_OPTIONS),
              ("RUN_OPTIONS", "every command that computes several points", params.RUN_OPTIONS)]
    lines = ["| declaration | parameter | symbol | type | default | range | meaning |",
             "|---|---|---|---|---|---|---|"]
    for const, where, decl in groups:
        for name, p in decl.items():
            lines.append(f"| `{const}` ({where}) | `{name}` | {p.symbol or '—'} | "
                         f"{p.type.__name__} | `{p.default!r}` | {_cell(p.range_text)} | {_cell(p.help)} |")
    return "\n".join(lines) + "\n"


def render_params(text: str) -> str:
    return PARAMS_MARK.sub(lambda m: m.group(1) + params_table() + m.group(3), text)


def main(argv: list[str]) -> int:
    stale = []
    for page in sorted(PAGES.glob("*.md")) + [PARAMS_PAGE]:
        old = page.read_text()
        new = render_params(old) if page == PARAMS_PAGE else render(old)
        if new != old:
            stale.append(page.name)
            if "--check" not in argv:
                page.write_text(new)
    if "--check" in argv and stale:
        print("stale option tables (run docs/_make_commands.py):", ", ".join(stale), file=sys.stderr)
        return 1
    print(("rewrote " if stale else "up to date: ") + (", ".join(stale) or "all pages"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
