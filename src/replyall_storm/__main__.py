"""``python -m replyall_storm ...`` is the ``replyall`` command line (``--version``, ``run``)."""

from replyall_storm.experiments.cli import main

main(prog_name="replyall")
