"""The package contract (CONTRIBUTING.md, "The shape of a subpackage"), checked for every
installed subpackage found through the ``dltheory.commands`` entry points."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import click
import pytest

from dltheory.cli.plugins import as_click_command
from dltheory.core.claims import Claim

# Subpackages of this repository (fake test plugins and third-party plugins are not held to it).
OURS = {"convit", "dfa", "efcn", "jamming", "querygen", "randfeat"}
TRAINERS = {"convit", "dfa", "efcn", "jamming", "querygen"}
TRAIN_FLAGS = (
    "--device",
    "--precision",
    "--seed",
    "--out",
    "--resume",
    "--overwrite",
    "--config",
    "--set",
    "--threads",
    "--json",
)
REPRODUCE_FLAGS = ("--out", "--scale", "--device")
MODULES = ("cli", "claims", "config", "reproduce", "figures", "data", "__main__")
TRAINER_MODULES = ("models", "train")
REQUIRED_CLAIMS = {
    "convit": {
        "convit.imagenet_top1",
        "convit.param_counts",
        "convit.sample_efficiency",
        "convit.vanilla_sa_localises",
        "convit.gpsa_escapes_locality",
    },
    "dfa": {
        "dfa.align_then_memorise",
        "dfa.ode_matches_simulation",
        "dfa.degeneracy_breaking",
        "dfa.conditioning",
        "dfa.cnn_failure",
        "dfa.bottom_to_top",
        "dfa.mnist_close_to_bp",
    },
    "randfeat": {
        "randfeat.dt.bias_flat",
        "randfeat.dt.kinf_flat",
        "randfeat.dt.peak_from_variance",
        "randfeat.dt.simulation",
        "randfeat.td.two_peaks",
        "randfeat.td.linear_peak_weakly_regularised",
        "randfeat.td.networks",
        "randfeat.ds.asymmetry",
        "randfeat.ds.alignment",
        "randfeat.ds.simulation",
    },
    "querygen": {
        "querygen.transfer_originality",
        "querygen.pseudo_label_costs_accuracy",
        "querygen.alpha_tradeoff",
        "querygen.lm_augmentation",
    },
    "efcn": {"efcn.efcn_beats_fcn", "efcn.intermediate_switch_beats_cnn", "efcn.small_deviation"},
    "jamming": {
        "jamming.nstar_over_p",
        "jamming.sharp_transition",
        "jamming.cusp",
        "jamming.fluctuations",
        "jamming.test_error_scaling",
        "jamming.norm_divergence",
        "jamming.ensemble_optimum",
    },
}


def _installed() -> list[str]:
    names = {ep.name for ep in metadata.entry_points(group="dltheory.commands")}
    return sorted(names & OURS)


PACKAGES = _installed()


def _group(name: str) -> click.Group:
    module = importlib.import_module(f"dltheory.{name}.cli")
    command = as_click_command(module.app, name)
    assert isinstance(command, click.Group)
    return command


def _flags(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


@pytest.mark.parametrize("name", PACKAGES)
def test_modules_follow_the_shape(name):
    package = Path(importlib.import_module(f"dltheory.{name}").__path__[0])
    expected = MODULES + (TRAINER_MODULES if name in TRAINERS else ())
    missing = [m for m in expected if not (package / f"{m}.py").is_file()]
    assert not missing, f"dltheory.{name} lacks {missing}"
    drift = [
        m
        for m in ("model", "training", "trainer", "configs", "plots")
        if (package / f"{m}.py").exists()
    ]
    assert not drift, f"dltheory.{name} keeps old module names {drift}"


@pytest.mark.parametrize("name", PACKAGES)
def test_verbs_and_standard_flags(name):
    group = _group(name)
    verbs = set(group.list_commands(click.Context(group)))
    required = {"reproduce"} | ({"train", "eval"} if name in TRAINERS else set())
    assert required <= verbs, f"{name} lacks verbs {required - verbs}"
    assert set(REPRODUCE_FLAGS) <= _flags(group.commands["reproduce"])
    if name in TRAINERS:
        missing = set(TRAIN_FLAGS) - _flags(group.commands["train"])
        assert not missing, f"{name} train lacks {sorted(missing)}"


@pytest.mark.parametrize("name", PACKAGES)
def test_reproduce_signature(name):
    reproduce = importlib.import_module(f"dltheory.{name}.reproduce").reproduce
    params = inspect.signature(reproduce).parameters
    assert next(iter(params)) == "out"
    for keyword in ("scale", "device"):
        assert keyword in params, f"{name}.reproduce lacks {keyword}"
        assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("name", PACKAGES)
def test_claims_are_declared(name):
    claims = importlib.import_module(f"dltheory.{name}.claims").CLAIMS
    assert all(isinstance(c, Claim) for c in claims)
    ids = [c.id for c in claims]
    assert len(ids) == len(set(ids))
    assert all(i.startswith(f"{name}.") for i in ids)
    bad_papers = [c.paper for c in claims if not re.fullmatch(r"\d{4}\.\d{4,5}", c.paper)]
    assert not bad_papers, f"paper must be an arXiv id: {bad_papers}"
    assert REQUIRED_CLAIMS[name] <= set(ids), f"missing {REQUIRED_CLAIMS[name] - set(ids)}"


TORCH_FREE = """
import sys
sys.argv = {argv!r}
from dltheory.cli.app import app
from dltheory.cli.app import run_app
import atexit
def report():
    sys.stderr.write("TORCH-IMPORTED" if "torch" in sys.modules else "TORCH-FREE")
atexit.register(report)
run_app(app, prog_name="dltheory")
"""


@pytest.mark.parametrize("name", PACKAGES)
def test_help_imports_no_torch(name):
    verbs = [[name, "--help"], [name, "reproduce", "--help"]]
    if name in TRAINERS:
        verbs.append([name, "train", "--help"])
    for argv in verbs:
        code = TORCH_FREE.format(argv=["dltheory", *argv])
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.endswith("TORCH-FREE"), f"`dltheory {' '.join(argv)}` imported torch"


@pytest.mark.parametrize("name", PACKAGES)
def test_library_claims_and_config_import_no_torch(name):
    code = (
        f"import sys, dltheory.{name}, dltheory.{name}.claims, dltheory.{name}.config, dltheory.{name}.cli\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_claims_json_lists_every_required_id_without_torch():
    code = (
        "import sys, json, io, contextlib\n"
        "from dltheory.cli.claims import print_declared\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    code = print_declared(None, True)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print(json.dumps([r['id'] for r in json.loads(buf.getvalue())]))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    import json

    ids = set(json.loads(result.stdout))
    for name in PACKAGES:
        assert REQUIRED_CLAIMS[name] <= ids
