import json

import pytest

from pyspice_mram.cli import main
from pyspice_mram.training.train import TrainingConfig


def test_train_json_and_refusal(mnist_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["train", "--ber", "0.01", "--epochs", "1", "--seeds", "2", "--train-images", "1000",
            "--data", str(mnist_dir), "--json", str(out), "--quiet"]
    assert main(args) == 0
    res = json.loads(out.read_text())
    assert len(res["accuracies"]) == 2
    assert res["accuracy_min"] <= res["accuracy_mean"] <= res["accuracy_max"] <= 1.0
    assert res["configuration"]["policy"]["ber_set"] == [0.01] * 16
    assert res["configuration"]["train_images"] == 1000
    assert res["energy"]["all_bits"]["saving"] > 0.5
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ber", "1.5"], "[0, 1]"),
        (["--lsb", "20", "--hsb-ber", "0.01", "--lsb-ber", "0.5"], "n_lsb"),
        (["--lsb", "8"], "go together"),
        (["--ber", "0.1", "--lsb", "8", "--hsb-ber", "0.01", "--lsb-ber", "0.5"], "not both"),
        ([], "give --ber"),
    ],
)
def test_train_bad_options(args, message, capsys, tmp_path):
    assert main(["train", *args, "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err


def test_train_without_data(tmp_path, capsys):
    assert main(["train", "--float", "--data", str(tmp_path)]) == 2
    assert "MNIST files not found" in capsys.readouterr().err


def test_experiment_resumes(mnist_dir, tmp_path, capsys, monkeypatch):
    import pyspice_mram.training.experiments as ex
    from pyspice_mram.training.memory import BitErrorPolicy
    from pyspice_mram.training.programming_energy import REFERENCE_POLICY

    monkeypatch.setattr(ex, "grid", lambda fig: [(ex.REFERENCE_STEM, REFERENCE_POLICY), ("float", None),
                                                 ("uniform_0.01", BitErrorPolicy.uniform(0.01))])
    args = ["experiment", "fig3", "--out", str(tmp_path / "o"), "--epochs", "1", "--seeds", "2",
            "--train-images", "500", "--data", str(mnist_dir), "--quiet"]
    assert main(args) == 0
    assert (tmp_path / "o" / "fig3.png").is_file() and (tmp_path / "o" / "fig3.pdf").is_file()
    [run] = (tmp_path / "o" / "runs").glob("*/uniform_0.01.json")
    assert run.parent.name.startswith("e1-s2-n500-")
    first = run.stat().st_mtime_ns
    assert main(args) == 0
    assert run.stat().st_mtime_ns == first  # resumed, not retrained
    # another training configuration gets its own folder: nothing is overwritten
    assert main([a if a != "500" else "400" for a in args]) == 0
    assert run.stat().st_mtime_ns == first
    runs = sorted(p.parent.name for p in (tmp_path / "o" / "runs").glob("*/uniform_0.01.json"))
    assert len(runs) == 2 and runs[0].startswith("e1-s2-n400-")
    assert json.loads((tmp_path / "o" / "runs" / runs[0] / "uniform_0.01.json").read_text())["configuration"]["train_images"] == 400


def test_config_tag_separates_every_field():
    from pyspice_mram.training.experiments import config_tag
    from pyspice_mram.training.train import TrainingConfig

    base = TrainingConfig(epochs=1, seeds=2)
    assert config_tag(base) == config_tag(TrainingConfig(epochs=1, seeds=2))
    others = [TrainingConfig(epochs=1, seeds=2, learning_rate=0.05), TrainingConfig(epochs=1, seeds=2, frac_bits=15),
              TrainingConfig(epochs=1, seeds=2, train_images=500), TrainingConfig(epochs=1, seeds=2, output="tanh")]
    assert len({config_tag(c) for c in [base, *others]}) == 5


def test_experiment_in_parallel_equals_serial(mnist, tmp_path):
    from pyspice_mram.training.experiments import run_figure

    config = TrainingConfig(epochs=1, seeds=1, train_images=300)
    serial = run_figure("fig3", tmp_path / "serial", mnist, config, jobs=1)
    parallel = run_figure("fig3", tmp_path / "parallel", mnist, config, jobs=2)
    assert [s["name"] for s in serial] == [s["name"] for s in parallel]
    for a, b in zip(serial, parallel):
        assert a["accuracies"] == b["accuracies"] and a.get("memory") == b.get("memory")


def test_grids_with_different_settings_train_in_one_pool_and_are_then_reused(mnist, tmp_path):
    """`train_missing` trains the configurations of several (figure, settings) grids together, each
    stored under its own settings, and `run_figure` then finds them all without training again."""
    from dataclasses import replace

    from pyspice_mram.training import experiments

    softmax = TrainingConfig(epochs=1, seeds=1, train_images=200)
    tanh = replace(softmax, output="tanh")
    only = {"float", "uniform_0.01"}
    lines: list[str] = []
    experiments.train_missing([("fig3", softmax), ("formal", tanh)], tmp_path, mnist, jobs=2, log=lines.append, only=only)
    assert lines[0].startswith("train 6 configurations on 2 processes")  # reference, float, 1 % for each output
    for config in (softmax, tanh):
        stored = sorted(p.stem for p in (tmp_path / "runs" / experiments.config_tag(config)).glob("*.json"))
        assert stored == ["float", "reference_1e-10", "uniform_0.01"]
    lines.clear()
    summaries = experiments.run_figure("formal", tmp_path, mnist, tanh, jobs=2, log=lines.append, only=only)
    assert lines and all(line.startswith("skip ") for line in lines)
    assert {s["name"] for s in summaries} == {"reference_1e-10", "float", "uniform_0.01"}
    assert all(s["configuration"]["output"] == "tanh" for s in summaries)
