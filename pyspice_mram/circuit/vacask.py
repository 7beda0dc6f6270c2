"""The VACASK engine: the write circuit with the Verilog-A MTJ (`mtj.va` as OSDI) and BSIM4 as OSDI.

Why generated: the circuit is described once, by the ngspice netlist (`netlists/write_driver.cir`)
and its includes (the PTM BSIM4 card). `vacask_netlist` translates that very description (sizes,
parasitics, sources, the `.param`s, every BSIM4 model parameter) into VACASK's syntax, so the two
engines can never drift apart: the ngspice macromodel subcircuit (`mtj_pma`, rendered into the deck
from the circuit's switching law) becomes the Verilog-A twin translated from it (its rate table and
device defaults, `osdi.mtj_verilog_a`), compiled on demand, with the same ports and parameters; the
device's `.param`s (diameter, RA, TMR0, Vh, Vc) reach it as they reach the macromodel.

VACASK runs as a batch program: one transient is one process started on a netlist whose top-level
`parameters` carry the run's values, writing a binary raw file read back here. Each worker process
has its own scratch folder. `VacaskEngine.transient` has the signature and result of
`NgSpice.transient`, so `WriteCircuit` runs on either.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import SimulatorError
from .ngspice import TransientResult, split_vector_name
from .osdi import CompiledModel, VacaskTools, compile_mtj, vacask_tools

BSIM4_OSDI = "spice/bsim4v8.osdi"  # ngspice's BSIM4 (with delvto/mulu0), compiled by VACASK's makers
BSIM4_MODULE = "sp_bsim4v8"
PASSIVE_OSDI = {"r": ("spice/resistor.osdi", "sp_resistor"), "c": ("spice/capacitor.osdi", "sp_capacitor")}
MTJ_SUBCKT = "mtj_pma"  # the ngspice subcircuit name, also the Verilog-A module name
RUN_TIMEOUT_S = 600.0
# ngspice `method` -> VACASK `tran_method`; ngspice's gear is variable order up to 2 by default.
METHODS = {"gear": "gear2", "trap": "trap", "trapezoidal": "trap", "euler": "euler"}


def _expression(text: str) -> str:
    """An ngspice value ('{a*b}', '0.4u', '1') as a VACASK expression."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        return f"({text[1:-1].strip()})"
    return text


def _split_params(text: str) -> list[tuple[str, str]]:
    """'a=1 b = {x+y} c=2' -> [('a', '1'), ('b', '{x+y}'), ('c', '2')] (braces kept whole)."""
    out: list[tuple[str, str]] = []
    for m in re.finditer(r"(\w+)\s*=\s*(\{[^}]*\}|[^\s{}]+)", text):
        out.append((m.group(1).lower(), m.group(2)))
    return out


@dataclass(frozen=True)
class ModelCard:
    """One `.model` of a SPICE card: name, SPICE type (nmos/pmos), level and parameters (text values)."""

    name: str
    kind: str
    params: tuple[tuple[str, str], ...]


def read_model_card(text: str) -> list[ModelCard]:
    """The `.model` statements of a SPICE model file ('+' continuations joined, comments dropped)."""
    from .write_circuit import _logical_lines

    cards = []
    for line in _logical_lines(text):
        m = re.match(r"\.model\s+(\S+)\s+(\S+)\s*\(?(.*?)\)?\s*$", line, flags=re.IGNORECASE)
        if m:
            cards.append(ModelCard(m.group(1).lower(), m.group(2).lower(), tuple(_split_params(m.group(3)))))
    return cards


def _vacask_model(card: ModelCard) -> str:
    """A BSIM4 `.model` as a VACASK model of ngspice's BSIM4 compiled to OSDI."""
    params = dict(card.params)
    level = params.pop("level", None)
    if card.kind not in ("nmos", "pmos") or level != "54":
        raise SimulatorError(f"model {card.name!r} ({card.kind}, level {level}) is not a BSIM4 (level 54) MOSFET card")
    items = [f"type={1 if card.kind == 'nmos' else -1}"]
    for key, value in params.items():
        items.append(f'version="{value}"' if key == "version" else f"{key}={value}")
    body = "\n".join("    " + " ".join(items[i : i + 6]) for i in range(0, len(items), 6))
    return f"model {card.name} {BSIM4_MODULE} (\n{body}\n)"


def _pwl(spec: str) -> str:
    """'PWL(t0 v0 t1 v1 ...)' -> VACASK's type="pwl" wave=[t0, v0, ...] (braced items as expressions)."""
    inner = re.fullmatch(r"pwl\s*\((.*)\)", spec.strip(), flags=re.IGNORECASE)
    if not inner:
        raise SimulatorError(f"cannot translate the source value {spec!r} to VACASK")
    items = re.findall(r"\{[^}]*\}|[^\s{}]+", inner.group(1))
    return 'type="pwl" wave=[' + ", ".join(_expression(i) for i in items) + "]"


@dataclass(frozen=True)
class VacaskDeck:
    """A translated circuit: the netlist text without its top-level parameter values and control block."""

    title: str
    body: str  # loads, models and instances
    params: dict[str, str]  # top-level parameters with their netlist defaults (VACASK expressions)
    method: str  # VACASK tran_method
    osdi_files: tuple[str, ...]
    mtj: CompiledModel  # the Verilog-A twin of the deck's mtj_pma subcircuit


def vacask_netlist(deck: str) -> VacaskDeck:
    """Translate the write circuit's ngspice deck (includes already absolute) into VACASK.

    The MTJ subcircuit, inline (as `WriteCircuit` renders it) or in an included `.lib`, becomes its
    compiled Verilog-A twin; any other subcircuit is refused by name.
    """
    from .write_circuit import _logical_lines

    lines = deck.splitlines()
    title = lines[0].lstrip("* ").strip() if lines else "circuit"
    models: list[str] = []
    instances: list[str] = []
    params: dict[str, str] = {}
    method = METHODS["trap"]  # ngspice's default
    mtj_text: str | None = None
    used_passive: set[str] = set()
    subckt: str | None = None  # name of the subcircuit being skipped
    for line in _logical_lines("\n".join(lines[1:])):
        low = line.lower()
        word = low.split()[0]
        if subckt is not None:
            if word == ".ends":
                subckt = None
            continue
        if word == ".subckt":
            subckt = low.split()[1] if len(low.split()) > 1 else ""
            if subckt != MTJ_SUBCKT:
                raise SimulatorError(f"cannot translate the subcircuit {subckt!r} to VACASK (only {MTJ_SUBCKT})")
            mtj_text = deck
        elif word in (".include", ".inc", ".lib"):
            target = Path(line.split(None, 1)[1].strip().strip('"'))
            if target.suffix.lower() == ".pm":
                models.extend(_vacask_model(c) for c in read_model_card(target.read_text()))
            elif target.suffix.lower() == ".lib":
                mtj_text = target.read_text()
            else:
                raise SimulatorError(f"cannot translate the include {target.name} to VACASK")
        elif word == ".param":
            params.update({k: _expression(v) for k, v in _split_params(line[len(".param"):])})
        elif word in (".options", ".option"):
            for key, value in _split_params(line.split(None, 1)[1]):
                if key == "method":
                    method = METHODS.get(value.lower(), method)
        elif word in (".save", ".end", ".tran", ".control", ".endc"):
            continue
        elif word.startswith("."):
            raise SimulatorError(f"cannot translate the netlist statement {word!r} to VACASK")
        else:
            instances.append(_instance(line, used_passive))
    if subckt is not None:
        raise SimulatorError(f"the subcircuit {subckt!r} has no .ends")
    if mtj_text is None:
        raise SimulatorError(f"the circuit defines no subcircuit {MTJ_SUBCKT} (the MTJ) to translate to VACASK")
    mtj = compile_mtj(mtj_text)
    osdi = [BSIM4_OSDI, str(mtj.path)]
    for letter in sorted(used_passive):
        file, module = PASSIVE_OSDI[letter]
        osdi.append(file)
        models.append(f"model {module} {module}")
    head = [f'load "{f}"' for f in osdi] + ["model vsource vsource"]
    body = "\n".join([*head, "", *models, "", *instances]) + "\n"
    return VacaskDeck(title=title, body=body, params=params, method=method, osdi_files=tuple(osdi), mtj=mtj)


def _instance(line: str, used_passive: set[str]) -> str:
    """One ngspice element line (V, M, C, R, X) as a VACASK instance."""
    tokens = re.findall(r"\{[^}]*\}|\S+\s*\(.*\)|[^\s]+", line)
    name = tokens[0].lower()
    kind = name[0]
    if kind == "v":
        n1, n2 = tokens[1].lower(), tokens[2].lower()
        value = " ".join(tokens[3:])
        if value.lower().startswith("pwl"):
            return f"{name} ({n1} {n2}) vsource {_pwl(value)}"
        value = re.sub(r"^dc\s+", "", value, flags=re.IGNORECASE)
        return f"{name} ({n1} {n2}) vsource dc={_expression(value)}"
    if kind == "m":
        nodes = " ".join(t.lower() for t in tokens[1:5])
        rest = " ".join(tokens[6:])
        items = " ".join(f"{k}={_expression(v)}" for k, v in _split_params(rest))
        return f"{name} ({nodes}) {tokens[5].lower()} {items}"
    if kind in ("c", "r"):
        used_passive.add(kind)
        key = "c" if kind == "c" else "r"
        return f"{name} ({tokens[1].lower()} {tokens[2].lower()}) {PASSIVE_OSDI[kind][1]} {key}={_expression(tokens[3])}"
    if kind == "x":
        words = " ".join(tokens[1:])
        first_param = re.search(r"\w+\s*=", words)
        head = words[: first_param.start()] if first_param else words
        parts = head.split()
        subckt = parts[-1].lower()
        if subckt != MTJ_SUBCKT:  # the Verilog-A module of the same name and ports
            raise SimulatorError(f"cannot translate the subcircuit instance {name} ({subckt}) to VACASK")
        # Verilog-A parameters are model parameters in OSDI: each instance gets its own model
        items = " ".join(f"{k}={_expression(v)}" for k, v in _split_params(words[len(head):]))
        model = f"{name}_model"
        return f"model {model} {subckt} {items}\n{name} ({' '.join(p.lower() for p in parts[:-1])}) {model}"
    raise SimulatorError(f"cannot translate the element {tokens[0]!r} to VACASK")


def read_raw(path: Path) -> tuple[list[str], np.ndarray]:
    """A SPICE raw file (binary or ASCII, real, one plot): variable names and data (n_points, n_vars)."""
    data = path.read_bytes()
    names: list[str] = []
    n_vars = n_points = 0
    pos = 0
    binary = None
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        key = line.split(":", 1)[0].strip().lower()
        if key == "no. variables":
            n_vars = int(line.split(":", 1)[1])
        elif key == "no. points":
            n_points = int(line.split(":", 1)[1])
        elif key == "flags" and "complex" in line.lower():
            raise SimulatorError("VACASK wrote a complex raw file where a transient was expected")
        elif key == "variables":
            for _ in range(n_vars):
                end = data.index(b"\n", pos)
                fields = data[pos:end].decode("ascii", errors="replace").split()
                pos = end + 1
                names.append(fields[1])
        elif key in ("binary", "values"):
            binary = key == "binary"
            break
    if binary is None:
        raise SimulatorError(f"{path.name} is not a raw file VACASK completed")
    if binary:
        available = (len(data) - pos) // 8
        values = np.frombuffer(data, dtype="<f8", count=min(available, n_vars * n_points), offset=pos)
    else:
        numbers = [float(t) for t in data[pos:].decode("ascii").split() if not t.endswith(":") and not t.isdigit()]
        values = np.array(numbers)
    if values.size != n_vars * n_points:
        raise SimulatorError(f"{path.name} is truncated ({values.size} of {n_vars * n_points} values)")
    return names, values.reshape(n_points, n_vars)


def _vector_name(name: str) -> str:
    """'v(bl)' -> 'bl', 'i(vwr)' -> 'vwr:flow(br)' (VACASK's names)."""
    kind, node = split_vector_name(name)
    return f"{node}:flow(br)" if kind == "i" else node


def _save_line(vectors: Sequence[str]) -> str:
    """VACASK's `save` of just the asked vectors (ngspice names: 'v(node)', 'i(source)')."""
    for name in vectors:
        if not re.fullmatch(r"[vi]\([^(),\s]+\)", name.strip().lower()):
            raise SimulatorError(f"the VACASK engine saves node voltages v(x) and source currents i(x), not {name!r}")
    return "  save " + " ".join(name.strip().lower() for name in vectors)


def _number(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise SimulatorError(f"cannot pass a non-finite value ({value!r}) to VACASK")
    return repr(value)


class VacaskEngine:
    """VACASK behind `NgSpice`'s interface (`load`, `transient`); one scratch folder per process."""

    name = "vacask"
    _instances: dict[int, "VacaskEngine"] = {}

    @classmethod
    def session(cls) -> "VacaskEngine":
        pid = os.getpid()
        if pid not in cls._instances:
            cls._instances = {pid: cls()}
        return cls._instances[pid]

    def __init__(self) -> None:
        self.tools: VacaskTools = vacask_tools()
        self.version = self.tools.version
        self.scratch = Path(tempfile.mkdtemp(prefix="pyspice-mram-vacask-"))
        weakref.finalize(self, shutil.rmtree, self.scratch, True)  # also at interpreter exit
        self.deck: str | None = None
        self.translated: VacaskDeck | None = None
        self.seconds_in_process = 0.0

    def provenance(self, mtj_library: str | None = None) -> dict[str, str]:
        """Engine, version and the hashes of the Verilog-A MTJ: of `mtj_library` (an ngspice text with
        the `mtj_pma` subcircuit) if given, else of the loaded circuit, else of the paper device's."""
        if mtj_library is not None:
            mtj = compile_mtj(mtj_library)
        elif self.translated is not None:
            mtj = self.translated.mtj
        else:
            from ..device.macromodel import render_mtj_library

            mtj = compile_mtj(render_mtj_library())
        return {"engine": "vacask", "version": self.version, "mtj_model": f"{MTJ_SUBCKT} of the deck as Verilog-A (OSDI)",
                "mtj_va_sha256": mtj.source_sha256, "mtj_osdi_sha256": mtj.osdi_sha256, "bsim4": BSIM4_OSDI}

    @property
    def mtj(self) -> CompiledModel:
        """The compiled Verilog-A MTJ of the loaded circuit."""
        if self.translated is None:
            raise SimulatorError("no circuit loaded")
        return self.translated.mtj

    def load(self, deck: str) -> None:
        if deck != self.deck:
            self.translated = vacask_netlist(deck)
            self.deck = deck

    def netlist(self, params: Mapping[str, float], control: str) -> str:
        """The full VACASK netlist of one run: the translated circuit, its parameter values, a control block."""
        if self.translated is None:
            raise SimulatorError("no circuit loaded")
        unknown = set(params) - set(self.translated.params)
        if unknown:
            raise SimulatorError(f"VACASK circuit has no parameter {', '.join(sorted(unknown))}")
        values = dict(self.translated.params)
        values.update({k: _number(v) for k, v in params.items()})
        plines = "\n".join(f"parameters {k}={v}" for k, v in values.items())
        return f"{self.translated.title}\n\nground 0\n{plines}\n\n{self.translated.body}\ncontrol\n{control}\nendc\n"

    def transient(
        self,
        step_s: float,
        stop_s: float,
        max_step_s: float,
        vectors: Sequence[str],
        params: Mapping[str, float] | None = None,
        options: Mapping[str, str] | None = None,
        relaxations: Sequence[Mapping[str, str]] = (),
    ) -> TransientResult:
        """One `tran` in a fresh VACASK process; the same result type and vector names as ngspice's."""
        for name, value in (("step", step_s), ("stop time", stop_s), ("max step", max_step_s)):
            if not (math.isfinite(value) and value > 0):
                raise SimulatorError(f"transient {name} must be a finite number > 0 s, got {value!r}")
        if self.translated is None:
            raise SimulatorError("no circuit loaded")
        control = "\n".join([
            f"  options {self._options(options or {})}",
            _save_line(vectors),
            f"  analysis tran1 tran step={_number(step_s)} stop={_number(stop_s)} maxstep={_number(max_step_s)}",
        ])
        names, data = self.run_netlist(self.netlist(params or {}, control), "tran1")
        index = {n.lower(): i for i, n in enumerate(names)}
        time_s = data[:, index["time"]]
        if time_s[-1] < stop_s * (1 - 1e-9):
            raise SimulatorError(f"VACASK transient stopped at {time_s[-1]:.4g} s before {stop_s:.4g} s")
        out = {}
        for name in vectors:
            key = _vector_name(name)
            if key not in index:
                raise SimulatorError(f"the VACASK circuit has no vector {name!r}")
            out[name] = data[:, index[key]].copy()
        return TransientResult(time_s=time_s.copy(), vectors=out)

    def transient_sweep(
        self,
        step_s: float,
        stop_s: float,
        max_step_s: float,
        vectors: Sequence[str],
        params: Mapping[str, float],
        swept: str,
        values: Sequence[float],
        options: Mapping[str, str] | None = None,
    ) -> list[TransientResult]:
        """One transient per value of the MTJ parameter `swept`, all in one VACASK process (its `sweep`).

        VACASK sweeps only parameters given as literals, so the MTJ's model line gets `swept` as a
        number and the sweep sets it; every other parameter is as in `transient`.
        """
        if self.translated is None:
            raise SimulatorError("no circuit loaded")
        if not len(values):
            raise SimulatorError("nothing to sweep")
        bound = f" {swept}=({swept})"
        models = [line for line in self.translated.body.splitlines() if line.startswith("model ") and bound in line]
        if len(models) != 1:
            raise SimulatorError(f"the VACASK circuit has no single MTJ model parameter {swept!r} to sweep")
        model_name = models[0].split()[1]
        saved = self.translated
        self.translated = VacaskDeck(saved.title, saved.body.replace(models[0], models[0].replace(bound, f" {swept}=1")),
                                     saved.params, saved.method, saved.osdi_files, saved.mtj)
        try:
            listed = ", ".join(_number(v) for v in values)
            control = "\n".join([
                f"  options {self._options(options or {})}",
                _save_line(vectors),
                f'  sweep s{swept} model="{model_name}" parameter="{swept}" values=[{listed}]',
                f"    analysis tran1 tran step={_number(step_s)} stop={_number(stop_s)} maxstep={_number(max_step_s)}",
            ])
            names, data = self.run_netlist(self.netlist(params, control), "tran1")
        finally:
            self.translated = saved
        index = {n.lower(): i for i, n in enumerate(names)}
        time_s = data[:, index["time"]]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(time_s) < 0) + 1, [time_s.size]))
        if starts.size - 1 != len(values):
            raise SimulatorError(f"VACASK returned {starts.size - 1} of {len(values)} swept transients")
        results = []
        for a, b in zip(starts[:-1], starts[1:]):
            if time_s[b - 1] < stop_s * (1 - 1e-9):
                raise SimulatorError(f"a swept VACASK transient stopped at {time_s[b - 1]:.4g} s before {stop_s:.4g} s")
            results.append(TransientResult(time_s=time_s[a:b].copy(),
                                           vectors={n: data[a:b, index[_vector_name(n)]].copy() for n in vectors}))
        return results

    def _options(self, options: Mapping[str, str]) -> str:
        items = [f'tran_method="{self.translated.method}"', 'rawfile="binary"']
        for key, value in options.items():
            if key == "temp":
                items.append(f"temp={_number(float(value))}")
            elif key == "method":
                items[0] = f'tran_method="{METHODS.get(value.lower(), value)}"'
            else:
                raise SimulatorError(f"the VACASK engine has no counterpart of the ngspice option {key!r}")
        return " ".join(items)

    def run_netlist(self, text: str, analysis: str) -> tuple[list[str], np.ndarray]:
        """Run VACASK on `text` in the scratch folder; the raw file of `analysis`."""
        work = self.scratch
        netlist = work / "circuit.sim"
        raw = work / f"{analysis}.raw"
        raw.unlink(missing_ok=True)
        netlist.write_text(text)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [str(self.tools.vacask), "-qp", "-sp", "-n", "1", "-b", "1", netlist.name], cwd=work, capture_output=True,
                text=True, timeout=RUN_TIMEOUT_S, env=env, check=False,
            )
        except subprocess.TimeoutExpired:
            raise SimulatorError(f"VACASK did not finish in {RUN_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise SimulatorError(f"cannot run VACASK ({exc})") from None
        self.seconds_in_process += time.perf_counter() - t0
        if proc.returncode != 0 or not raw.is_file():
            raise SimulatorError(f"VACASK failed: {_vacask_reason(proc.stdout + proc.stderr)}")
        return read_raw(raw)


def _vacask_reason(text: str) -> str:
    """The most telling line of VACASK's output."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        low = line.lower()
        if "error" in low or "failed" in low or "not found" in low or "abort" in low:
            return line
    return lines[-1] if lines else "no output"


class _Recorder:
    """Stands in for the engine during one run: runs it for real and keeps its arguments."""

    def __init__(self, engine: VacaskEngine) -> None:
        self.engine = engine
        self.calls: list[tuple[tuple, dict]] = []

    def load(self, deck: str) -> None:
        self.engine.load(deck)

    def transient(self, *args, **kwargs) -> TransientResult:
        self.calls.append((args, dict(kwargs)))
        return self.engine.transient(*args, **kwargs)


class _Replay:
    """Stands in for the engine: hands out transients computed beforehand, checking they were asked alike."""

    def __init__(self, expected: tuple[tuple, dict], swept: str, results: Sequence[TransientResult]) -> None:
        self.expected, self.swept, self.results = expected, swept, list(results)

    def load(self, deck: str) -> None:
        pass

    def transient(self, *args, **kwargs) -> TransientResult:
        exp_args, exp_kwargs = self.expected
        same = {k: v for k, v in kwargs.get("params", {}).items() if k not in ("thr_p2ap", "thr_ap2p")}
        want = {k: v for k, v in exp_kwargs.get("params", {}).items() if k not in ("thr_p2ap", "thr_ap2p")}
        if args != exp_args or same != want or not self.results:
            raise SimulatorError("internal: a batched VACASK write was asked differently from the recorded one")
        return self.results.pop(0)


def batched_stochastic_writes(circuit, direction: str, t_pulse_s: float, thresholds: Sequence[tuple[float, float]],
                              sample=None) -> list[tuple[bool, np.ndarray]]:
    """`circuit.stochastic_write` for many threshold pairs, the transients in one VACASK process.

    The active threshold of the direction (thr_p2ap for P->AP) is swept; the other one never acts
    in that direction (its integrator is driven only by the opposite polarity), so it stays at the
    first run's value. One run is first made as usual to learn the exact transient arguments, then
    each write's result is post-processed by `stochastic_write` itself.
    """
    from .write_circuit import NOMINAL_SAMPLE

    sample = sample or NOMINAL_SAMPLE
    engine = circuit.engine
    if not isinstance(engine, VacaskEngine):
        raise SimulatorError("batched stochastic writes need the vacask engine")
    if not thresholds:
        return []
    swept = "thr_p2ap" if direction == "p2ap" else "thr_ap2p"
    circuit.rail_v(direction)  # solved now, so that the recorded run is the write alone
    recorder = _Recorder(engine)
    circuit.engine = recorder
    try:
        first = circuit.stochastic_write(direction, t_pulse_s, thresholds[0], sample)
    finally:
        circuit.engine = engine
    (args, kwargs), = recorder.calls
    position = 0 if swept == "thr_p2ap" else 1
    rest = [t[position] for t in thresholds[1:]]
    if not rest:
        return [first]
    results = engine.transient_sweep(*args[:4], params=kwargs["params"], swept=swept, values=rest,
                                     options=kwargs.get("options"))
    circuit.engine = _Replay((args, kwargs), swept, results)
    try:
        return [first] + [circuit.stochastic_write(direction, t_pulse_s, thr, sample) for thr in thresholds[1:]]
    finally:
        circuit.engine = engine
