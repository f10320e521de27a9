import numpy as np
import pytest
import torch

from dltheory.jamming.fits import FitError, fit_divergence, fit_offset_power_law, fit_power_law
from dltheory.jamming.models import NetSpec, StackedFC
from dltheory.jamming.ntk import jacobians, ntk_fluctuation, ntk_gram


def test_power_law_fit_matches_scipy_and_covers_truth():
    from scipy import stats

    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e4, 12)
    y = 3.0 * x**-0.25 * np.exp(0.05 * rng.standard_normal(12))
    fit = fit_power_law(x, y)
    ref = stats.linregress(np.log(x), np.log(y))
    assert abs(fit.exponent - ref.slope) < 1e-12
    half = stats.t.ppf(0.975, 10) * ref.stderr
    assert abs((fit.ci_high - fit.ci_low) / 2 - half) < 1e-12
    assert fit.ci_low < -0.25 < fit.ci_high
    with pytest.raises(FitError):
        fit_power_law([1, 2], [1, 2])


def test_offset_and_divergence_fits_recover_exponents():
    n = np.geomspace(100, 1e5, 10)
    fit = fit_offset_power_law(n, 0.1 + 2.0 * n**-0.5)
    assert abs(fit.exponent + 0.5) < 1e-4
    assert abs(fit.offset - 0.1) < 1e-5
    div = fit_divergence(n + 50.0, 4.0 * n**-1.0, n_star=50.0)
    assert abs(div.exponent + 1.0) < 1e-9
    assert abs(div.prefactor - 4.0) < 1e-6


@pytest.mark.parametrize("parametrisation", ["standard", "ntk"])
def test_ntk_gram_matches_torch_func_jacobian(parametrisation):
    net = StackedFC(
        4,
        [NetSpec(3.0, 0), NetSpec(5.5, 1)],
        depth=2,
        parametrisation=parametrisation,
        init="normal",
    )
    x = torch.randn(6, 4, dtype=torch.float64)
    grams = ntk_gram(net, x)
    for e in range(2):
        module = net.to_module(e)
        params = dict(module.named_parameters())
        jac = torch.func.jacrev(
            lambda p, m=module: torch.func.functional_call(m, p, (x,)).squeeze(-1)
        )(params)
        # the stacked parameter is W and the module's is s W (s = 1/sqrt(fan_in) for ntk, 1 for
        # standard), so df/dW = s df/d(sW): each weight block of the Gram picks up s^2
        factor = {f"{2 * i}.weight": net.scales[i][e].item() ** 2 for i in range(3)}
        ref = sum(factor.get(k, 1.0) * j.flatten(1) @ j.flatten(1).T for k, j in jac.items())
        torch.testing.assert_close(grams[e], ref, atol=1e-10, rtol=1e-10)
    assert jacobians(net, x).shape[:2] == (2, 6)


def test_ntk_fluctuations_shrink_with_width():
    x = torch.randn(8, 5, dtype=torch.float64)
    out = {}
    for h in (8.0, 128.0):
        net = StackedFC(
            5, [NetSpec(h, s) for s in range(8)], depth=2, parametrisation="ntk", init="normal"
        )
        out[h] = ntk_fluctuation(ntk_gram(net, x))["ntk_rel_fluctuation"]
    # theory: ~ h^-1/2, i.e. a factor 4 between h = 8 and 128; ask for at least 2
    assert out[128.0] < out[8.0] / 2
