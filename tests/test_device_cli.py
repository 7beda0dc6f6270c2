import json
import subprocess
import sys

import pytest

from pyspice_mram.cli import main


def test_device_json(capsys):
    assert main(["device", "--json", "--targets", "1e-10,1e-4,1e-3,1e-2"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("r_p_ohm", "r_ap_ohm", "vc_v", "ic0_a", "mean_switching_time_s", "skewness", "shape_k"):
        assert key in out
    rows = {row["ber"]: row for row in out["targets"]}
    assert rows[1e-10]["t_pulse_s"] == pytest.approx(15e-9, abs=0.3e-9)
    assert 1 - rows[1e-4]["energy_ratio"] == pytest.approx(0.37, abs=0.015)
    assert 1 - rows[1e-2]["energy_ratio"] == pytest.approx(0.53, abs=0.015)


def test_device_text_and_plots(tmp_path, capsys):
    assert main(["device", "--plot", str(tmp_path)]) == 0
    assert "T_pulse" in capsys.readouterr().out
    for name in ("fig1c_switching_probability.png", "fig1d_mean_skewness.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["device", "--targets", "1.5"], "target BER"),
    (["device", "--targets", "abc"], "not a number"),
    (["device", "--v-over-vc", "0"], "--v-over-vc"),
    (["device", "--v-over-vc", "nan"], "--v-over-vc"),
])
def test_device_bad_input_is_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_entry_point_runs_from_another_directory(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pyspice_mram", "device", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["shape_k"] > 1
