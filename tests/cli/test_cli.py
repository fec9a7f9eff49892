import subprocess
import sys

from t5eval import __version__
from t5eval.errors import T5evalError, did_you_mean


def test_console_entry_point_prints_version():
    out = subprocess.run([sys.executable, "-m", "t5eval", "version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == __version__


def test_did_you_mean_suggests_close_names():
    assert did_you_mean("glue_cloa", ["glue_cola", "glue_rte"]) == " (did you mean glue_cola?)"
    assert did_you_mean("zzz", ["glue_cola"]) == ""


def test_user_errors_are_one_line_without_traceback(monkeypatch):
    from t5eval import cli

    @cli.app.command("boom-for-test")
    def boom() -> None:
        raise T5evalError("file x.tsv, line 3: bad row; fix the row")

    import pytest

    with pytest.raises(SystemExit) as exc:
        cli.main(["boom-for-test"])
    assert exc.value.code == 2
