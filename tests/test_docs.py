"""The documentation states what the code does: parameters and commands."""

from pathlib import Path

from click.testing import CliRunner

from replyall_storm.experiments.cli import main
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
