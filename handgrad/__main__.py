"""``python -m handgrad`` runs the handgrad command (see handgrad.cli)."""
from handgrad.cli import main

main()
