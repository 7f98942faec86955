"""The documentation states what the code does: parameters and commands."""

import re
from pathlib import Path

from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.model.observables import COLUMNS
from replyall_storm.model.parameters import parameter_table

ROOT = Path(__file__).resolve().parents[1]


def test_odd_parameter_table_matches_the_code():
    odd = (ROOT / "model" / "README.md").read_text()
    for row in parameter_table():
        line = f"| `{row['name']}` | {row['default']!r} |"
        assert line in odd, f"model/README.md is stale for {row['name']}: regenerate with " \
                            "`replyall params --markdown`"


def test_readme_documents_every_command():
    readme = (ROOT / "README.md").read_text()
    for name in main.commands:
        assert f"replyall {name}" in readme, f"README.md does not document `replyall {name}`"


def test_every_command_has_help():
    runner = CliRunner()
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, name


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_mesa_example_runs_as_written():
    readme = (ROOT / "README.md").read_text()
    [block] = [b for b in python_blocks(readme) if "StormModel(n_users=300, seed=1)" in b]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    model, curves = namespace["model"], namespace["curves"]
    assert len(curves) == 60 and list(curves.columns) == COLUMNS
    assert model.minute == model.params.horizon_min == 720 and not model.running
    assert model.series()["received_per_user"].iloc[-1] == 1.0  # "stays at the original"


def test_readme_numbers_of_the_300_user_storm():
    from replyall_storm.model import StormModel

    readme = " ".join((ROOT / "README.md").read_text().split())
    model = StormModel(n_users=300, seed=1, remove_rate=1.2e-2, complain_rate=1.2e-2,
                       cutoff_min=60)
    model.run_for(60)
    last = model.series().iloc[-1]
    assert f"after 60 minutes {int(last['replied'])} users have replied all" in readme
    assert f"has received {last['received_per_user']:.0f} messages" in readme
