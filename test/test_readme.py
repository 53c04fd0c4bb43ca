"""The README's promises that code can check: the two set-up commands, and every
`scr-localizer VERB` it shows exists."""

import re
from pathlib import Path

from scr_localizer.cli import _verb_modules

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def test_quick_start_gives_make_demo_and_make_test():
    blocks = re.findall(r"```bash\n(.*?)```", _section("Quick start"), flags=re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]
    makefile = (REPO / "Makefile").read_text()
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


def test_every_cli_verb_in_the_readme_exists():
    verbs = {module.VERB for module in _verb_modules()}
    shown = set(re.findall(r"scr-localizer ([a-z][a-z-]*)", README)) - {"verb"}
    assert shown, "the README shows no scr-localizer command"
    assert shown <= verbs, sorted(shown - verbs)


def test_architecture_section_names_every_package_folder():
    section = _section("Architecture")
    folders = sorted(p.name for p in (REPO / "scr_localizer").iterdir()
                     if (p / "__init__.py").exists())
    missing = [f for f in folders if f"`{f}/`" not in section]
    assert folders and not missing, f"README architecture section lacks {missing}"
