import json
import math
import sys

import numpy as np
import pytest

from dltheory.core.jsonio import dumps, json_safe


def test_non_finite_floats_become_null_at_any_depth():
    value = {"a": math.nan, "b": [1.5, math.inf, (-math.inf, 2)], "c": {"d": float("nan")}}
    assert json_safe(value) == {"a": None, "b": [1.5, None, [None, 2]], "c": {"d": None}}
    text = dumps(value)
    assert "NaN" not in text
    assert "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.5, None, [None, 2]], "c": {"d": None}}


def test_numpy_scalars_become_python_numbers():
    value = {"x": np.float32("nan"), "y": np.float64(0.25), "n": np.int64(3), "z": np.array(2.0)}
    assert json.loads(dumps(value)) == {"x": None, "y": 0.25, "n": 3, "z": 2.0}


def test_finite_values_match_json_dumps_and_default_is_used():
    value = {"k": [1, 2.5, "s", None, True], "path": object()}
    with pytest.raises(TypeError):
        dumps(value)
    assert dumps({"k": value["k"]}, indent=2) == json.dumps({"k": value["k"]}, indent=2)
    assert json.loads(dumps(value, default=lambda o: "obj"))["path"] == "obj"


def test_jsonio_imports_no_torch():
    import subprocess

    code = "import sys, dltheory.core.jsonio; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
