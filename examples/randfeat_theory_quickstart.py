"""Random-features theory in a few lines: MM vs replica, an ensemble split, a triple-descent curve."""

import numpy as np

from dltheory.randfeat.theory import ensemble_error, local_maxima, mm_ridge, rf_ridge

# Mei-Montanari closed form and the replica solver agree (lam_rep = psi1 psi2 lam_MM)
print("MM      ", float(mm_ridge(2.0, 1.0, 0.01)["test_error"]))
print("replica ", float(rf_ridge(2.0, 1.0, 0.02, ridge_convention="replica").test_error))
# ensembles of K estimators (2003.01054): test error and its decomposition
split = ensemble_error(1.0, 1.0, 0.1, k=[1, 10, np.inf], noise=0.01)
for key in ("test_error", "bias", "var_init", "var_sampling", "var_noise"):
    print(f"{key:13s}", np.round(split[key], 4))
# triple descent (2006.03509): peaks at N = D and N = P = 10 D for a nearly linear activation
psi2 = np.logspace(-1, 2, 300)
curve = rf_ridge(10.0, psi2, 0.1, activation=0.9, ridge_convention="replica", noise=5.0).test_error
print("peaks at N/D =", np.round(local_maxima(psi2, curve), 2))
