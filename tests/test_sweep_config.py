"""Sweep definitions: shipped configs load; every kind of bad input is a one-line ConfigError naming the key."""

from __future__ import annotations

import pytest

from pyspice_mram.cli import main
from pyspice_mram.errors import ConfigError
from pyspice_mram.sweeps.config import load_config, loads, resolve_config_path, validate


def test_shipped_configs_load_and_paper_matches_the_paper_setup():
    paper = load_config("paper")
    assert paper["sweep"]["n_samples"] >= 1000
    assert paper["sweep"]["directions"] == ["p2ap", "ap2p"]
    assert paper["circuit"]["model_card"] == "ptm_32nm_LP.pm"
    assert paper["circuit"]["v_over_vc"] == 2.0
    assert paper.corners == [("TT", 1.0, 300.0)]
    v = paper["variability"]
    assert v["mismatch"] and v["ra_sigma"] == 0.05 and v["tmr_sigma"] == 0.05
    corners = load_config("corners")
    assert {c[0] for c in corners.corners} == {"TT", "FF", "SS", "FS", "SF"}
    assert {c[1] for c in corners.corners} == {0.9, 1.0, 1.1}
    assert len({c[2] for c in corners.corners}) >= 2
    assert load_config("quick").n_tasks <= 201


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("[sweep]\nn_sample = 10\n", ["sweep.n_sample", "n_samples"]),
        ("[sweeps]\nseed = 1\n", ["[sweeps]", "sweep"]),
        ("[variability]\nra_sigmaa = 0.05\n", ["variability.ra_sigmaa", "ra_sigma"]),
        ('[sweep]\nn_samples = "10"\n', ["sweep.n_samples", "integer"]),
        ("[sweep]\nn_samples = 10.5\n", ["sweep.n_samples", "integer"]),
        ("[circuit]\nv_over_vc = true\n", ["circuit.v_over_vc", "number"]),
        ("[variability]\nmismatch = 1\n", ["variability.mismatch", "true or false"]),
        ('[corners]\nprocess = "TT"\n', ["corners.process", "list"]),
        ("[sweep]\nseed = -1\n", ["sweep.seed", "[0, 2**63)"]),
        ("[sweep]\nn_samples = 0\n", ["sweep.n_samples", "[1, "]),
        ("[circuit]\nv_over_vc = 9.0\n", ["circuit.v_over_vc", "[1.2, 4.0]"]),
        ('[sweep]\ndirections = ["p2ap", "up"]\n', ["sweep.directions", "p2ap"]),
        ('[corners]\nprocess = ["TT", "XX"]\n', ["corners.process", "FF"]),
        ("[corners]\nvdd_scale = [1.0, 1.0]\n", ["corners.vdd_scale", "distinct"]),
        ("[variability]\nra_sigma = -0.05\n", ["variability.ra_sigma", "[0, 0.3]"]),
        ('[sweep]\nsimulator = "hspice"\n', ["sweep.simulator", "spice, vacask, ngspice-osdi, analytic"]),
        ("[table]\ntargets = [1e-10, 1.5]\n", ["table.targets", "(0, 1)"]),
        ("[circuit]\nstop_time_s = 40e-9\ntime_step_s = 5e-9\n", ["time_step_s"]),
        ("[sweep\nseed = 1\n", ["not valid TOML"]),
    ],
)
def test_bad_configs_are_one_line_errors_naming_the_key(text, fragments):
    with pytest.raises(ConfigError) as info:
        loads(text, source="bad.toml")
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_defaults_are_filled_and_ints_are_accepted_for_floats():
    cfg = loads("[circuit]\nv_over_vc = 2\n")
    assert cfg["circuit"]["v_over_vc"] == 2.0 and isinstance(cfg["circuit"]["v_over_vc"], float)
    assert cfg["sweep"]["simulator"] == "spice"
    assert cfg["table"]["targets"][0] == 1e-10


def test_sample_hash_ignores_table_time_keys_only():
    base = validate({"sweep": {"n_samples": 10}})
    assert base.with_changes("variability", intrinsic_ln_rate_sigma=0.12).sample_hash == base.sample_hash
    assert base.with_changes("table", targets=[1e-4]).sample_hash == base.sample_hash
    assert base.with_changes("sweep", n_samples=11).sample_hash != base.sample_hash
    assert base.with_changes("variability", ra_sigma=0.04).sample_hash != base.sample_hash
    assert base.with_changes("sweep", seed=3).sample_hash != base.sample_hash


def test_config_names_and_paths(tmp_path):
    assert resolve_config_path("paper").name == "paper.toml"
    path = tmp_path / "mine.toml"
    path.write_text('[sweep]\nsimulator = "analytic"\nn_samples = 3\n')
    assert load_config(path)["sweep"]["n_samples"] == 3
    assert load_config(str(path)).source == str(path)
    with pytest.raises(ConfigError, match="neither a file nor a shipped config"):
        load_config(tmp_path / "missing.toml")


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[sweep]\nn_sampels = 3\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown key sweep.n_sampels") and "\n" not in err
    assert not (tmp_path / "run").exists()
