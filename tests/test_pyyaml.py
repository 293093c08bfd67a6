"""PyYAML imported through taskctl: its pure-Python reader's pattern is compiled when first used, and it still
refuses what it refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taskctl.config.pyyaml import yaml

REPO = Path(__file__).resolve().parents[1]


def test_importing_pyyaml_leaves_the_readers_pattern_for_its_first_use() -> None:
    code = (
        "from taskctl.config.pyyaml import yaml\n"
        "import re\n"
        "print(type(yaml.reader.Reader.NON_PRINTABLE).__name__)\n"
        "print(type(re.compile(yaml.reader.Reader.NON_PRINTABLE.text)).__name__)\n"  # others compile it as ever
        "print(yaml.safe_load('a: b'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout == "CompiledOnFirstUse\nPattern\n{'a': 'b'}\n"


@pytest.mark.parametrize("text", ["a: \x07", "a: b\x00", "a: \ufffe"])
def test_pyyamls_own_reader_still_refuses_characters_yaml_does_not_allow(text: str) -> None:
    with pytest.raises(yaml.reader.ReaderError, match="special characters are not allowed"):
        yaml.safe_load(text)


def test_the_pattern_reads_as_pyyamls() -> None:
    pattern = yaml.reader.Reader.NON_PRINTABLE
    assert pattern.search("tab\there, é, \U0001f600") is None
    assert pattern.search("bell\x07").group() == "\x07"
