"""mkdocs hook: the site serves its math renderer itself, no CDN.

Copies the parts of MathJax 3 the pages load -- the ``tex-chtml`` component, its fonts, the TeX
extensions it loads on demand and the menu's components -- from the ``django-static-mathjax``
package (a dependency of kdlab's ``docs`` extra: it ships MathJax's files as package data)
into ``site/javascripts/mathjax/``; ``mkdocs.yml`` loads ``javascripts/mathjax/tex-chtml.js``.
A missing package fails the build with the install command.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError

#: What the pages use, relative to MathJax's ``es5`` folder.
PARTS = ("tex-chtml.js", "input/tex", "output/chtml", "ui", "a11y")


def _source() -> Path:
    try:
        from importlib.resources import files

        root = Path(str(files("mathjax") / "static" / "mathjax" / "es5"))
    except (ModuleNotFoundError, TypeError):
        root = None
    if root is None or not (root / "tex-chtml.js").is_file():
        raise PluginError("the docs serve MathJax themselves, from the django-static-mathjax package: "
                          "pip install 'kdlab[docs]' (or pip install django-static-mathjax)")
    return root


def on_config(config, **kwargs):
    _source()  # fail early, with the install command
    return config


def on_post_build(config, **kwargs):
    src, dest = _source(), Path(config["site_dir"]) / "javascripts" / "mathjax"
    for part in PARTS:
        s, d = src / part, dest / part
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d, dirs_exist_ok=True)
        else:
            shutil.copy2(s, d)
