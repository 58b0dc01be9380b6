"""The documentation site builds with ``mkdocs build --strict`` and has the expected pages.

Nothing is skipped: the docs tools (mkdocs-material, mkdocstrings[python], mkdocs-jupyter)
are test dependencies, and a missing one fails the test with the install command.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: import name -> distribution to install
DOC_TOOLS = {"mkdocs": "mkdocs", "material": "mkdocs-material", "mkdocstrings": "mkdocstrings",
             "mkdocstrings_handlers.python": "mkdocstrings-python", "mkdocs_jupyter": "mkdocs-jupyter",
             "mathjax": "django-static-mathjax"}

#: API page -> names its rendered HTML must contain (as mkdocstrings anchors)
API_NAMES = {
    "kdlab": ["kdlab.GaussianMixture", "kdlab.Student", "kdlab.simulate", "kdlab.Result"],
    "params": ["kdlab.params.Param", "kdlab.params.check_real"],
    "problem": ["kdlab.problem.GaussianMixture", "kdlab.problem.LogisticTeacher",
                "kdlab.problem.BayesOptimalTeacher", "kdlab.problem.Student", "kdlab.problem.Fresh",
                "kdlab.problem.Problem", "kdlab.problem.load_problem"],
    "losses": ["kdlab.losses.KDLoss", "kdlab.losses.LogisticLoss"],
    "results": ["kdlab.results.Result", "kdlab.results.Observables", "kdlab.results.gen_error"],
    "errors": ["kdlab.errors.KdlabError", "kdlab.errors.ParameterError", "kdlab.errors.ConvergenceError"],
    "io": ["kdlab.io.atomic_write", "kdlab.io.write_table"],
    "simulation": ["kdlab.simulation.run.simulate", "kdlab.simulation.sampling.sample_dataset",
                   "kdlab.simulation.erm.fit_linear"],
    "theory": ["kdlab.theory.solve", "kdlab.theory.curve", "kdlab.theory.bayes_optimal_error"],
    "sweep": ["kdlab.runs.sweep.run_sweep"],
    "tuning": ["kdlab.runs.tuning.optimal_lam", "kdlab.runs.tuning.optimal_kd", "kdlab.runs.tuning.Optimum"],
    "talk": ["kdlab.talk.reproduce", "kdlab.talk.figure"],
    "reporting": ["kdlab.reporting.output.OutputFolder", "kdlab.reporting.compare.match",
                  "kdlab.reporting.findings.Claim"],
    "runs": ["kdlab.runs.context.RunContext", "kdlab.runs.cached.run_cached", "kdlab.runs.store.call_key"],
    "estimator": ["kdlab.estimator.KDClassifier"],
    "torch": ["kdlab.torch.KDLoss", "kdlab.torch.kd_loss"],
}

FIGURES = ["regularization", "kd-logistic-teacher", "kd-bayes-teacher", "double-descent"]


def _missing_tools() -> list[str]:
    missing = []
    for mod, dist in DOC_TOOLS.items():
        try:
            found = importlib.util.find_spec(mod) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(dist)
    return missing


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    missing = _missing_tools()
    if missing:
        pytest.fail("the docs tools are missing: " + ", ".join(missing) + f" (install them into "
                    f"{sys.executable}: pip install mkdocs-material 'mkdocstrings[python]' mkdocs-jupyter "
                    "django-static-mathjax)",
                    pytrace=False)
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src")] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _page(site: Path, name: str) -> str:
    path = site / name / "index.html"
    assert path.is_file(), f"no page {name}/ in the site"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", sorted(API_NAMES))
def test_api_page_documents_its_names(site, page):
    html = _page(site, f"api/{page}")
    for name in API_NAMES[page]:
        assert f'id="{name}"' in html, f"api/{page}: {name} is not documented"


def test_every_api_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in API_NAMES:
        assert f"api/{page}.md" in nav, page


def test_params_page_lists_every_declared_parameter(site):
    from kdlab import params

    html = _page(site, "api/params")
    decls = [getattr(params, n) for n in params.__all__ if n.isupper() and isinstance(getattr(params, n), dict)]
    assert len(decls) >= 11
    for decl in decls:
        for name, p in decl.items():
            assert f"<code>{name}</code>" in html and f"<code>{p.default!r}</code>" in html, name


def test_command_pages_and_chains_page(site):
    for cmd in ["simulate", "theory", "theory-curve", "sweep", "optimize", "reproduce", "figure", "experiment"]:
        _page(site, f"commands/{cmd}")
    html = _page(site, "commands/simulate")
    for opt in ["--label-noise", "--teacher-eta", "--problem", "--progress", "--quiet"]:
        assert f"<code>{opt}</code>" in html, opt
    chains = _page(site, "chains")
    for text in ["theory.solve", "res.stages", "res.overlaps", "load_problem", "--problem", "Fresh"]:
        assert text in chains, text


def test_generated_tables_are_up_to_date():
    """The option tables match the CLI and the parameter table matches kdlab.params
    (regenerate with ``python docs/_make_commands.py``)."""
    spec = importlib.util.spec_from_file_location("_make_commands", DOCS / "_make_commands.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for page in sorted((DOCS / "commands").glob("*.md")):
        text = page.read_text()
        for m in mod.MARK.finditer(text):
            assert m.group("body") == mod.table(m.group("cmd")), \
                f"{page.name}: the table of `kdlab {m.group('cmd')}` is stale: run docs/_make_commands.py"
    text = mod.PARAMS_PAGE.read_text()
    assert mod.render_params(text) == text, "api/params.md is stale: run docs/_make_commands.py"


def test_figures_and_report_pages(site):
    html = _page(site, "figures")
    for name in FIGURES:
        png = site / "figures" / f"{name}.png"
        assert png.is_file() and png.stat().st_size < 300_000, name
        assert f'src="../figures/{name}.png"' in html or f'src="{name}.png"' in html, name
    report = _page(site, "talk-report")
    assert "Verdict" in report and "Theory vs simulation" in report


def test_tutorial_page_is_rendered_with_outputs(site):
    html = _page(site, "tutorial")
    assert "theory.curve" in html and "optimal_lam" in html
    assert "data:image/png;base64" in html, "the tutorial page has no figures (saved without outputs?)"


def test_no_broken_relative_links(site):
    """Every relative href/src in the site points at a file (mkdocs checks the Markdown links;
    this also covers the rendered notebook)."""
    bad = []
    for page in site.rglob("*.html"):
        for target in re.findall(r'(?:href|src)="([^"#:?]+)(?:#[^"]*)?"', page.read_text(encoding="utf-8")):
            if target.startswith(("/", "data")) or not target:
                continue
            path = (page.parent / target).resolve()
            if not (path.exists() or (path / "index.html").exists()):
                bad.append(f"{page.relative_to(site)} -> {target}")
    assert not bad, "broken links:\n" + "\n".join(bad[:20])


def test_the_math_renderer_is_served_by_the_site(site):
    """Before: MathJax came from a CDN (offline every formula was raw TeX). Every script of
    every page is local, and the MathJax files it loads (with their fonts) are in the site."""
    external = []
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for src in re.findall(r'<script[^>]*\ssrc="([^"]*)"', html):
            if re.match(r"(https?:)?//", src):
                external.append(f"{page.relative_to(site)}: {src}")
        remote = re.findall(r"(?:https?:)?//[^\"'\s]*(?:mathjax|katex)[^\"'\s]*", html, re.I)
        assert not remote, (page, remote[:3])
    assert not external, external
    html = _page(site, "theory")
    assert 'src="../javascripts/mathjax/tex-chtml.js"' in html and 'class="arithmatex"' in html
    mj = site / "javascripts" / "mathjax"
    assert (mj / "tex-chtml.js").stat().st_size > 500_000
    assert list((mj / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert list((mj / "input" / "tex" / "extensions").glob("*.js"))


def test_headings_with_math_have_plain_labels_in_the_navigation(site):
    """Before: headings with math showed raw TeX (``\\(T = 0\\)``) in the navigation and the
    table of contents. Each such heading has a ``data-toc-label`` without TeX."""
    for md in DOCS.rglob("*.md"):
        for line in md.read_text(encoding="utf-8").splitlines():
            if re.match(r"#{1,6} ", line) and ("$" in line.split("{")[0] or "\\(" in line):
                m = re.search(r'data-toc-label="([^"]*)"', line)
                assert m and not re.search(r"[$\\]", m.group(1)), f"{md.name}: {line}"
    for page in site.rglob("*.html"):
        for link in re.findall(r'class="md-nav__link[^"]*"[^>]*>(.*?)</a>', page.read_text(encoding="utf-8"), re.S):
            text = re.sub(r"<[^>]+>", "", link)
            assert "\\(" not in text and "$" not in text and "\\mathbb" not in text, (page, text.strip())
    assert "Hard labels (T = 0)" in _page(site, "theory")
