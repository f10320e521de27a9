"""The three papers' headline claims, declared once and measured by ``reproduce`` (data only).

(a) d'Ascoli, Refinetti, Biroli, Krzakala, "Double Trouble in Double Descent" (arXiv 2003.01054);
(b) d'Ascoli, Sagun, Biroli, "Triple descent and the two kinds of overfitting" (arXiv 2006.03509);
(c) d'Ascoli, Gabrié, Sagun, Biroli, "On the interplay between data structure and loss function in
classification problems" (arXiv 2103.05524).

Theory claims are measured on the theory curves (a flatness as the largest relative variation
beyond the threshold, a peak as its prominence, a slope by a log-log fit); simulation claims from
simulations with standard errors (the largest |simulation - theory| / SE over the points).
"""

from __future__ import annotations

from dltheory.core.claims import Claim, above, below

DT = "2003.01054"
TD = "2006.03509"
DS = "2103.05524"

CLAIMS = (
    Claim(
        "randfeat.dt.bias_flat",
        DT,
        "abstract; bias/variance figure",
        "For P > N the bias of the random-features ensemble freezes (phase transition at P = N).",
        "bias constant for P > N",
        below(0.01, sigmas=0),
    ),
    Claim(
        "randfeat.dt.kinf_flat",
        DT,
        "abstract; ensemble figure",
        "For P > N the test error of the infinite ensemble (K = inf) does not depend on P.",
        "K = inf error constant for P > N",
        below(0.01, sigmas=0),
    ),
    Claim(
        "randfeat.dt.peak_from_variance",
        DT,
        "decomposition figure",
        "The double-descent peak at P = N comes from the variance due to the initialisation (and "
        "the noise), not from the bias: measured as their share of the K = 1 error at P = N.",
        "peak made of variance",
        above(0.9, sigmas=0),
    ),
    Claim(
        "randfeat.dt.simulation",
        DT,
        "ensemble figure, numerics",
        "Real ensembles of K = 1, 2, 10 independently drawn feature maps trained on the same data "
        "agree with the theory: largest |simulation - theory| / SE of the test error.",
        "theory = simulation",
        below(3.0, sigmas=0),
    ),
    Claim(
        "randfeat.td.two_peaks",
        TD,
        "sample-wise curves, Fig. 2",
        "With label noise and a nearly linear activation the sample-wise curve has two peaks, at "
        "N = D (linear) and N = P (nonlinear): the smaller relative prominence of the two.",
        "two peaks (r = 0.9, Delta = 5)",
        above(0.0, sigmas=0),
    ),
    Claim(
        "randfeat.td.linear_peak_weakly_regularised",
        TD,
        "sec. 3, effect of the regularisation",
        "The linear (N = D) peak is implicitly regularised by the nonlinearity and barely responds "
        "to the ridge, unlike the nonlinear peak: |d log height / d log lambda| of the N = D peak.",
        "linear peak insensitive to lambda",
        below(0.1, sigmas=0),
    ),
    Claim(
        "randfeat.td.networks",
        TD,
        "sec. 5, realistic networks",
        "Two-layer networks with both layers trained on the noisy teacher show both peaks: the "
        "smaller of the two bumps (error at the peak minus the following minimum), with its SE.",
        "both peaks in trained networks",
        above(0.0, sigmas=2),
    ),
    Claim(
        "randfeat.ds.asymmetry",
        DS,
        "sample-wise curves (aligned data)",
        "On aligned data the square loss peaks at N = P while the logistic loss does not: "
        "min(bump of the square loss, -bump of the logistic loss) at N = P.",
        "square peaks, logistic does not",
        above(0.0, sigmas=0),
    ),
    Claim(
        "randfeat.ds.alignment",
        DS,
        "sample-wise curves, three structures",
        "The advantage of the logistic over the square loss (relative, at N = P) is largest on the "
        "aligned (easy) task: aligned advantage minus the larger of the isotropic and misaligned.",
        "advantage largest when aligned",
        above(0.0, sigmas=0),
    ),
    Claim(
        "randfeat.ds.simulation",
        DS,
        "numerics (D = 150 in the paper)",
        "Block-data classification simulations (square and logistic loss) agree with the theory: "
        "largest |simulation - theory| / SE over the simulated points.",
        "theory = simulation",
        below(3.0, sigmas=0),
        min_scale="full",
        requires="simulations at D = 1000: the aligned salient block has D/10 dimensions, and at "
        "the quick scale's D = 150 finite-size effects exceed 3 SE",
    ),
)
