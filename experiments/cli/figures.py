"""``replyall figures``: rebuild every publication figure from stored results, never simulating.

Every input of every figure chosen is checked first. If any is missing, the command prints one
line per missing file with the command that makes it, writes nothing, and exits with code 2
(build a subset with ``--only``). Otherwise it writes ``figN_NAME.pdf`` and ``.png`` for each
figure; identical inputs give byte-identical files.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from replyall_storm.model.errors import ParameterError

from ..figures import FIGURES, SAMPLE_RESULTS, get_figures, missing_inputs, unreadable_inputs
from ..io import writable_folder

DEFAULT_RESULTS = Path("results")


HELP = (
    "Rebuild every publication figure (PDF + PNG) from stored results, without simulating.\n\n"
    "\b\n" + "\n".join(f"{f.stem:<17} {f.title}" for f in FIGURES) + "\n\n"
    "Every input is checked first: if any is missing, each is listed with the command that "
    "makes it, nothing is written, and the exit code is 2 (use --only for a subset)."
)


@click.command(help=HELP)
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help=f"Folder holding the result folders (default: "
              f"{DEFAULT_RESULTS}/ in the working directory).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=None, help="Where the figures go (default: RESULTS/figures; with "
              "--sample: results/figures-sample).")
@click.option("--sample", is_flag=True, help="Use the sample of results that ships with the "
              "package (reduced size: for CI and for trying things out).")
@click.option("--only", "only", multiple=True, type=click.Choice([f.name for f in FIGURES]),
              help="Build only this figure (repeatable).")
def figures(results_dir: Path | None, out_dir: Path | None, sample: bool,
            only: tuple[str, ...]) -> None:
    """Rebuild every publication figure (PDF + PNG) from stored results."""
    if sample and results_dir is not None:
        raise ParameterError("--results", str(results_dir), "cannot be combined with --sample")
    results = SAMPLE_RESULTS if sample else (results_dir or DEFAULT_RESULTS)
    out = writable_folder(out_dir or (Path("results") / "figures-sample" if sample
                                      else results / "figures"))
    chosen = get_figures(list(only))
    missing = missing_inputs(chosen, results)
    if missing:
        if sample:
            hint = ("the sample that ships with the package is incomplete; reinstall "
                    "replyall-storm")
        else:
            others = [h for h, used in (("build a subset with --only", only),
                                        ("try --sample", False)) if not used]
            hint = "make each with the command shown" + (
                f" (or {', or '.join(others)})" if others else "")
        click.echo(f"error: {len(missing)} result file(s) missing under {results}/; nothing "
                   f"written. {hint[0].upper()}{hint[1:]}:", err=True)
        for stem, path, command in missing:
            click.echo(f"  {stem}: {path} <- {command}", err=True)
        sys.exit(2)
    unreadable = unreadable_inputs(chosen, results)
    for path, command in unreadable:
        kind = "Parquet" if path.endswith(".parquet") else "JSON"
        click.echo(f"error: {path} is not a readable {kind} file: rebuild it with `{command}`; "
                   "nothing written", err=True)
    if unreadable:
        sys.exit(2)
    t0 = time.perf_counter()
    for fig in chosen:
        t = time.perf_counter()
        paths = fig.build(results, out)
        click.echo(f"  {fig.stem:<17} {', '.join(p.name for p in paths)} "
                   f"({time.perf_counter() - t:.1f} s)  {fig.title}")
    click.echo(f"wrote {len(chosen)} figure(s) to {out}/ from {results}/ "
               f"({time.perf_counter() - t0:.0f} s)")
