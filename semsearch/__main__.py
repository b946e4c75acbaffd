"""``python -m semsearch`` runs the command line."""

from semsearch.cli import main

main()
