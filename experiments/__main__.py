"""``python -m replyall_storm.experiments`` runs the ``replyall`` command line."""

from .cli import main

main(prog_name="replyall")
