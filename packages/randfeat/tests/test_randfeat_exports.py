"""The package exports the errors and the whole theory API, lazily."""

import subprocess
import sys


def test_package_exports_every_theory_name_and_the_errors():
    import dltheory.randfeat as rf
    from dltheory.randfeat import errors, theory

    assert rf.__all__ == [
        "ConvergenceWarning",
        "RandfeatInputError",
        "RidgeAtBoundWarning",
        *theory.__all__,
    ]
    for name in theory.__all__:
        assert getattr(rf, name) is getattr(theory, name)
    assert rf.RandfeatInputError is errors.RandfeatInputError
    assert set(rf.__all__) <= set(dir(rf))


def test_importing_the_package_loads_neither_the_theory_nor_scipy():
    code = (
        "import sys, dltheory.randfeat as rf; hasattr(rf, '__wrapped__'); "
        "print('dltheory.randfeat.theory' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
