"""``replyall params``: every model parameter with its default, unit, range and source."""

from __future__ import annotations

import click

from replyall_storm.model.parameters import parameter_table


@click.command()
@click.option("--markdown", is_flag=True, help="Print a Markdown table (for the docs).")
def params(markdown: bool) -> None:
    """List the model's parameters: default, unit, allowed range, meaning and source."""
    rows = parameter_table()
    if markdown:
        click.echo("| parameter | default | unit | allowed | meaning and source |")
        click.echo("|---|---|---|---|---|")
        for r in rows:
            click.echo(
                f"| `{r['name']}` | {r['default']!r} | {r['unit']} | {r['allowed']} | {r['doc']} |"
            )
        return
    for r in rows:
        click.echo(f"{r['name']} = {r['default']!r}  [{r['unit'] or '-'}; {r['allowed']}]")
        click.echo(f"    {r['doc']}")
