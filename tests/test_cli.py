"""The gisaxs-cnn command: every subcommand answers --help; bad arguments are named."""
import subprocess
import sys
from pathlib import Path

import pytest

from xicam_gisaxs_cnn.cli import SUBCOMMANDS, main


def test_installed_console_command_lists_every_subcommand():
    command = Path(sys.executable).parent / "gisaxs-cnn"
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True)
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    assert "usage: gisaxs-cnn " + name in capsys.readouterr().out


def test_bad_values_are_reported_not_raised(capsys):
    assert main(["demo", "--per-class", "0"]) == 2
    assert "--per-class must be >= 1" in capsys.readouterr().err
    assert main(["train", "--degradation", "blur:2", "--output", "unused"]) == 2
    assert "unknown degradation 'blur:2'" in capsys.readouterr().err
