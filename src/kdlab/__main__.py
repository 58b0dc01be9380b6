"""``python -m kdlab`` runs the CLI."""

from .cli import main

main()
