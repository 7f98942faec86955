"""``replyall predict``: what a reply-all storm would do on a list of your size."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from replyall_storm.model.errors import ParameterError

from ..analysis.predict import OUTPUTS, predict
from .options import parse_settings

LABELS = {"reply_alls_accepted": ("reply-alls that reached the list", "{:,.0f}"),
          "messages_per_user": ("messages per member (eventually received)", "{:,.0f}"),
          "hours_until_normal_service": ("hours until normal service", "{:.1f}")}


def parse_clock(text: str) -> float:
    """``HH:MM`` as clock hours (one-line error otherwise)."""
    try:
        hours, minutes = text.split(":")
        h, m = int(hours), int(minutes)
        if not (0 <= h < 24 and 0 <= m < 60 and len(minutes) == 2):
            raise ValueError
    except ValueError:
        raise ParameterError("--start", text, "must be a clock time HH:MM (00:00-23:59)"
                             ) from None
    return h + m / 60.0


@click.command()
@click.option("--list-size", type=int, required=True, help="Members of the list (users).")
@click.option("--duration", type=float, required=True,
              help="Minutes after the first send at which the list is disabled.")
@click.option("--start", default="09:00", show_default=True, help="Clock time of the first "
              "send (HH:MM).")
@click.option("--audience", type=click.Choice(["hidden", "visible"]), default="hidden",
              show_default=True, help="Whether members can see how many the list reaches.")
@click.option("--replicates", type=int, default=40, show_default=True,
              help="Posterior draws (one storm each).")
@click.option("--seed", type=int, default=0, show_default=True, help="Root random seed.")
@click.option("--posterior", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Posterior file (default: the one that ships, from `replyall storms`).")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a model parameter for every run, e.g. storm_protection=true or "
                   "capacity_per_min=50000 (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
def predict_command(list_size: int, duration: float, start: str, audience: str,
                    replicates: int, seed: int, posterior: Path | None,
                    settings: tuple[str, ...], as_json: bool) -> None:
    """Predict a reply-all storm on a directory-wide list of LIST_SIZE members.

    Draws parameter sets from the posterior of the model fitted to every storm the project
    knows, and simulates each on your list, disabled after DURATION minutes: reply-alls that
    reached the list, messages per member and hours until normal service, each as the
    median with 50 % and 90 % intervals.
    """
    clock = parse_clock(start)
    changes = parse_settings(settings)
    result = predict(list_size, duration, start_clock_h=clock, audience=audience,
                     replicates=replicates, seed=seed, posterior=posterior, changes=changes)
    if as_json:
        click.echo(json.dumps(result.as_json(), sort_keys=True))
        return
    click.echo(f"a list of {list_size:,} members, disabled after {duration:g} min, first send "
               f"{start}, audience {audience}; {replicates} posterior draws "
               f"({result.mechanism} mechanism, {result.posterior.name})")
    click.echo(f"  {'':<44}{'median':>9}{'50 % interval':>18}{'90 % interval':>18}")
    for key in OUTPUTS:
        label, fmt = LABELS[key]
        q = result.quantiles[key]
        shown = [fmt.format(q[k]) for k in ("median", "p25", "p75", "p05", "p95")]
        click.echo(f"  {label:<44}{shown[0]:>9}{shown[1] + '-' + shown[2]:>18}"
                   f"{shown[3] + '-' + shown[4]:>18}")
    if not result.runs["service_restored"].all():
        n = int((~result.runs["service_restored"]).sum())
        click.echo(f"  {n} of {replicates} runs had not recovered when the simulation ended "
                   "(counted as its length)")
    if math.isfinite(duration) and duration == 0:
        click.echo("  duration 0: the list is disabled at once; only the original arrives")
