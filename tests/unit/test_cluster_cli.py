"""`switchyard cluster` picks the lab a folder holds and refuses verbs of the other kind.
Nothing runs: the folders hold only the state files."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cluster import ha_state
from service.cluster.cli import main


def _patroni_folder(tmp_path: Path) -> Path:
    ha_state.save(tmp_path / "ha.json", ha_state.plan(replicas=2))
    return tmp_path


def test_a_patroni_folder_is_driven_as_patroni(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _patroni_folder(tmp_path)
    assert main(["cluster", "--dir", str(folder), "status"]) == 0
    out = capsys.readouterr().out
    assert "etcd" in out
    assert "leader:     (none)" in out  # nothing runs, and the REST calls say so quickly
    assert main(["cluster", "--dir", str(folder), "promote", "replica-1"]) == 1
    assert "for the plain lab" in capsys.readouterr().err


def test_a_plain_folder_refuses_patroni_verbs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cluster", "--dir", str(tmp_path), "switchover"]) == 1
    assert "needs a Patroni lab" in capsys.readouterr().err
    assert main(["cluster", "--dir", str(tmp_path), "kill-leader", "postmaster"]) == 1


def test_up_without_ha_on_a_patroni_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _patroni_folder(tmp_path)
    assert main(["cluster", "--dir", str(folder), "up", "--ha", "none"]) == 1
    assert "holds a Patroni lab" in capsys.readouterr().err
