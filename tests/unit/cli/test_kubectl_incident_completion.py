"""Completion for `kubectl incident <TAB>` (kubectl's plugin protocol) and the krew plugin
manifest: both from the plugin's own tables and files."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from plugins.krew import release

from tourniquet.cli.kubectl_incident.completion import BASH, ZSH, answer, candidates
from tourniquet.cli.kubectl_incident.grammar import VERB_NAMES

REPO = Path(__file__).resolve().parents[3]


class FakeLister:
    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def incidents(self, kubectl_args: Sequence[str]) -> list[str]:
        self.asked.append(tuple(kubectl_args))
        return ["api-errors", "db-latency"]

    def namespaces(self, kubectl_args: Sequence[str]) -> list[str]:
        return ["default", "production"]

    def contexts(self, kubectl_args: Sequence[str]) -> list[str]:
        return ["prod", "staging"]


def test_verbs_then_incidents_then_the_verbs_own_words() -> None:
    lister = FakeLister()
    assert candidates([""], lister) == list(VERB_NAMES)
    assert candidates(["ap"], lister) == ["approve"]
    assert candidates(["approve", ""], lister) == ["api-errors", "db-latency"]
    assert candidates(["approve", "api-errors", ""], lister) == []
    assert candidates(["tick", "bri"], lister) == ["bridgeOpened"]
    assert candidates(["tick", "api-errors", "s"], lister) == ["statusPageUpdated"]
    assert candidates(["completion", ""], lister) == ["bash", "zsh"]
    assert candidates(["fly", ""], lister) == []


def test_flag_values_and_flags_and_the_kubectl_flags_ask_the_cluster() -> None:
    lister = FakeLister()
    assert candidates(["declare", "x", "--severity", ""], lister) == ["SEV1", "SEV2", "SEV3"]
    assert candidates(["update", "--status-page", "M"], lister) == ["Monitoring"]
    assert candidates(["status", "-n", "p"], lister) == ["production"]
    assert candidates(["status", "--context", ""], lister) == ["prod", "staging"]
    assert "--watch" in candidates(["status", "--"], lister)
    assert "--as" in candidates(["status", "--"], lister)
    assert "--yes" not in candidates(["status", "--"], lister)
    candidates(["approve", "-n", "production", "--as=alice", "--yes", "a"], lister)
    assert lister.asked[-1] == ("--namespace=production", "--as=alice")


def test_the_answer_ends_with_cobras_no_file_directive() -> None:
    assert answer(["ap"], FakeLister()) == "approve\n:4\n"


@pytest.mark.parametrize("script", [BASH, ZSH])
def test_the_completion_scripts_call_the_plugin(script: str) -> None:
    assert "kubectl-incident __complete" in script


def test_the_bash_script_completes_from_the_plugin(tmp_path: Path) -> None:
    fake = tmp_path / "kubectl-incident"
    fake.write_text('#!/bin/sh\nprintf "approve\\nack\\n:4\\n"\n')
    fake.chmod(0o755)
    probe = (
        f'PATH="{tmp_path}:$PATH"; {BASH}\n'
        "COMP_WORDS=(kubectl-incident a); COMP_CWORD=1; _kubectl_incident; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["approve", "ack"]


# -- the krew manifest ------------------------------------------------------------------------


def test_the_krew_manifest_names_the_plugin_and_its_bin() -> None:
    manifest = yaml.safe_load(release.MANIFEST.read_text())
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert (manifest["kind"], manifest["metadata"]["name"]) == ("Plugin", "incident")
    for platform in manifest["spec"]["platforms"]:
        assert platform["bin"] == "kubectl-incident"
        assert [f["from"] for f in platform["files"]] == ["kubectl-incident"]
        assert len(platform["sha256"]) == 64
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'kubectl-incident = "tourniquet.cli.kubectl_incident.main:main"' in pyproject


def test_the_release_archive_holds_the_launcher_and_stamps_the_manifest() -> None:
    data = release.archive_bytes()
    assert release.archive_bytes() == data  # rebuilt the same
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.mode) == ("kubectl-incident", 0o755)
    stamped = yaml.safe_load(release.stamped(release.MANIFEST.read_text(), "v9.9.9", "ab" * 32))
    (platform,) = stamped["spec"]["platforms"]
    assert stamped["spec"]["version"] == "v9.9.9"
    assert platform["sha256"] == "ab" * 32
    assert platform["uri"].endswith("/v9.9.9/kubectl-incident.tar.gz")


def test_the_launcher_runs_the_plugin_or_says_what_to_install(tmp_path: Path) -> None:
    import sys

    found = subprocess.run(
        [str(release.LAUNCHER), "completion", "bash"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TOURNIQUET_PYTHON": sys.executable},
    )
    assert found.returncode == 0 and "_kubectl_incident" in found.stdout
    missing = subprocess.run(
        [str(release.LAUNCHER), "list"],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path)},
    )
    assert missing.returncode == 1
    assert "pip install tourniquet-operator" in missing.stderr
