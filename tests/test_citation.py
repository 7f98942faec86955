"""The software is citable: LICENSE, CITATION.cff (valid CFF 1.2.0), CHANGELOG, __version__."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata
from pathlib import Path

import jsonschema
import yaml

import replyall_storm

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_citation_cff_is_valid_cff_1_2_0_and_matches_pyproject():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "tests" / "data" / "cff-1.2.0.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema,
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(cff), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == PROJECT["version"], "CITATION.cff version differs from pyproject"
    assert cff["license"] == PROJECT["license"] == "MIT"
    assert PROJECT["name"] in cff["title"]


def test_a_broken_citation_is_caught():
    schema = json.loads((ROOT / "tests" / "data" / "cff-1.2.0.schema.json").read_text())
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    del cff["authors"]
    cff["license"] = "MIT License"  # not an SPDX identifier
    problems = list(jsonschema.Draft7Validator(schema).iter_errors(cff))
    assert len(problems) >= 2


def test_license_file_and_spdx_expression():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 replyall-storm contributors" \
        in text
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert not isinstance(PROJECT["license"], dict), "the license table form is deprecated"


def test_version_comes_from_the_installed_metadata():
    assert replyall_storm.__version__ == metadata.version("replyall-storm") == \
        PROJECT["version"]


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in text and "semver.org" in text
    versions = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert versions[:2] == ["Unreleased", "0.1.0"], versions
    assert re.search(r"^## \[0\.1\.0\] - \d{4}-\d{2}-\d{2}$", text, flags=re.M)
    for section in ("### Added", "### Changed", "### Fixed"):
        assert section in text
