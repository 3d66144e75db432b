"""The README and docs/: short, linked, naming every preset, and a configuration reference that is not stale."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from selftaught.config import Experiment, preset_names

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIG_MD = ROOT / "docs" / "CONFIG.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def config_doc():
    """scripts/config_doc.py, loaded as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("config_doc", ROOT / "scripts" / "config_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)]


def test_config_md_is_up_to_date():
    expected = config_doc().render()
    assert CONFIG_MD.exists(), "docs/CONFIG.md is missing; write it with: python scripts/config_doc.py --write"
    assert CONFIG_MD.read_text(encoding="utf-8") == expected, (
        "docs/CONFIG.md is stale (a config model changed); regenerate it with: python scripts/config_doc.py --write"
    )


def test_config_md_has_every_section_and_key():
    text = CONFIG_MD.read_text(encoding="utf-8")
    found = config_doc().sections()
    assert {name for name, _, _ in found} >= set(Experiment.model_fields) - {"name", "seed"}
    for name, model, many in found:
        heading = f"## `[[{name}]]`" if many else f"## `[{name}]`"
        assert heading in text, f"section {name} is not in docs/CONFIG.md"
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        for key in model.model_fields:
            assert f"| `{key}` |" in section, f"{name}.{key} is not in docs/CONFIG.md"


def test_config_doc_renders_types_defaults_and_constraints():
    doc = config_doc()
    text = doc.render()
    # A key with a bound, a literal, an optional and a default factory, as a reader of TOML sees them.
    assert "| `lr` | float | 0.01 | > 0.0, <= 10.0 |" in text
    assert '| `decay_form` | one of `"linear"`, `"sqrt"` | "linear" |' in text
    assert "| `round_lr` | float (optional) | (none) |" in text
    assert '| `filters` | list of string | ["vote", "length"] |' in text
    assert "| `task` | string | required |" in text


def test_config_doc_writes_the_file(tmp_path, monkeypatch):
    doc = config_doc()
    monkeypatch.setattr(doc, "OUT", tmp_path / "docs" / "CONFIG.md")
    assert doc.main(["--write"]) == 0
    assert (tmp_path / "docs" / "CONFIG.md").read_text(encoding="utf-8") == doc.render()


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; keep it to 300 and move detail into docs/"


def test_readme_names_every_preset():
    text = README.read_text(encoding="utf-8")
    missing = [name for name in preset_names() if f"`{name}`" not in text]
    assert not missing, f"presets missing from README.md: {missing}"


def test_readme_keeps_the_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    venv = "python3 -m venv .venv && . .venv/bin/activate"
    for command in (venv, "bash scripts/quickstart.sh", "bash scripts/test.sh"):
        assert command in text
    for script in ("scripts/quickstart.sh", "scripts/test.sh", "scripts/config_doc.py"):
        assert (ROOT / script).exists()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_to_existing_files_and_headings(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_readme_links_every_doc():
    text = README.read_text(encoding="utf-8")
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{doc.name})" in text, f"README.md does not link docs/{doc.name}"


def test_results_name_a_commit_and_a_command_per_section():
    text = (ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    sections = text.split("\n## ")[1:]
    assert sections
    for section in sections:
        title = section.splitlines()[0]
        if title == "Kill-and-resume":  # a test, not a measurement
            continue
        assert re.search(r"Commit `[0-9a-f]{7,40}`", section), f"RESULTS.md '{title}' names no commit"
        assert re.search(r"Commands?:\s+(`|none kept)", section), f"RESULTS.md '{title}' names no command"
