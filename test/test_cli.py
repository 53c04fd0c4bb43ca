import subprocess
import sys

from scr_localizer import __version__
from scr_localizer.cli import main


def test_version_and_help_from_the_installed_command():
    version = subprocess.run(
        [sys.executable, "-m", "scr_localizer.cli", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0
    assert version.stdout.strip() == f"scr-localizer {__version__}"
    helped = subprocess.run(
        [sys.executable, "-m", "scr_localizer.cli", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0 and "usage: scr-localizer" in helped.stdout


def test_no_verb_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out
