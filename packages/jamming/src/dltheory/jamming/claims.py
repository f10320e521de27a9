"""The papers' headline claims (arXiv:1809.09349, 1810.09665, 1901.01608), as data.

Imports dltheory.core.claims alone. The papers' body text was not available (reference notes B);
paper values come from their abstracts and the authors' code and commands. Qualitative claims
are measured as numbers with a standard error (over seeds, or from a fit) and judged by a rule.
"""

from dltheory.core.claims import Claim, above, below, ci_contains, interval, within

JAMMING = "1809.09349"  # Geiger, Spigler et al. 2019 (PRE)
SPIGLER = "1810.09665"  # Spigler, Geiger et al. 2019 (J. Phys. A)
SCALING = "1901.01608"  # Geiger, Jacot, Spigler et al. 2020 (J. Stat. Mech.)

CLAIMS = (
    Claim(
        id="jamming.nstar_over_p",
        paper=JAMMING,
        where="fig. 1A (random data, L = 5, d = h)",
        statement=(
            "The jamming point is linear in P: N*/P reaches a plateau of about 0.3. Measured as the "
            "mean N*/P over the searches of the largest P values (N* = the bracket midpoint of the "
            "smallest SAT N, exact criterion: N_Delta = 0 / converged UNSAT minimum), SE from the "
            "brackets' half-widths and the spread across P. Full scale: the paper's L = 5 with "
            "d = h near N* (P = 500, 1000); quick scale: L = 2, d = 10, small P."
        ),
        paper_value="N*/P ~ 0.3 (P = 500 to 60k)",
        rule=within(0.3, rel=0.15, sigmas=2),
    ),
    Claim(
        id="jamming.mnist_nstar_over_p",
        paper=JAMMING,
        where="fig. 1D (MNIST parity, PCA d = 10, L = 5)",
        statement=(
            "Real data jam at a smaller N/P than random labels: N*/P of an N* search on MNIST "
            "parity (the t10k IDX images, PCA-whitened to d = 10, L = 5, the phase diagram's "
            "protocol), SE from the bracket's half-width (uniform: half / sqrt 3)."
        ),
        paper_value="N*/P ~ 0.06-0.13 (P = 31k to 68k, h = 30)",
        rule=interval(0.06, 0.13, sigmas=2),
        min_scale="full",
        requires="the MNIST t10k IDX files (../shared/data/mnist-t10k) and ~10 min of CPU",
    ),
    Claim(
        id="jamming.sharp_transition",
        paper=JAMMING,
        where="abstract, fig. 1",
        statement=(
            "The transition is sharp: the N window from the largest width with no SAT net to the "
            "smallest width with every net SAT, relative to N*, averaged over the P values; its "
            "uncertainty is the grid's relative spacing there."
        ),
        paper_value="a sharp jamming transition (window -> 0 as P grows)",
        rule=below(0.5, sigmas=2),
    ),
    Claim(
        id="jamming.cusp",
        paper=SPIGLER,
        where="abstract, fig. 2 (MNIST parity)",
        statement=(
            "The test error of single nets (no early stopping, minimised to convergence) peaks at "
            "N*: measured as eps(N nearest N*) minus the larger of eps at the grid points next "
            "to it on each side, SE from the seeds."
        ),
        paper_value="a cusp of the test error at N*",
        rule=above(0.0, sigmas=2),
    ),
    Claim(
        id="jamming.fluctuations",
        paper=SCALING,
        where="abstract; sec. 3",
        statement=(
            "Above N* the output fluctuations across initialisations decay as "
            "||f_N - f_bar_N|| ~ N^(-1/4): the fitted exponent for N > 2 N*, 95% interval."
        ),
        paper_value="exponent -1/4",
        rule=ci_contains(-0.25),
    ),
    Claim(
        id="jamming.test_error_scaling",
        paper=SCALING,
        where="abstract",
        statement=(
            "The test error approaches its N -> infinity limit as eps_N - eps_inf ~ N^(-1/2): the "
            "fitted exponent of an offset power law for N > 2 N*, 95% interval."
        ),
        paper_value="exponent -1/2",
        rule=ci_contains(-0.5),
    ),
    Claim(
        id="jamming.norm_divergence",
        paper=SCALING,
        where="sec. 3 (||f|| near jamming)",
        statement=(
            "Just above N* the output norm diverges as ||f_N|| ~ (N - N*)^(-alpha), alpha ~ 1: the "
            "fitted exponent -alpha for N* < N < 6 N*, 95% interval."
        ),
        paper_value="alpha ~ 1 (exponent -1)",
        rule=ci_contains(-1.0),
    ),
    Claim(
        id="jamming.depth_independence",
        paper=JAMMING,
        where="fig. 1 (L = 2, 3, 5)",
        statement=(
            "At equal N the jamming point does not depend on depth: the relative range "
            "(max - min) / mean of N* over L = 2, 3, 5 at one P and d (random data; the phase "
            "diagram's protocol at its smallest P), SE from the brackets' half-widths (a depth "
            "whose search does not bracket N* gives no value)."
        ),
        paper_value="the same P* for L = 2, 3, 5 at equal N",
        rule=below(0.25, sigmas=2),
        min_scale="full",
        requires="three N* searches at P = 500 (L = 2, 3, 5), a few minutes of CPU",
    ),
    Claim(
        id="jamming.ensemble_optimum",
        paper=SCALING,
        where="abstract (ensembling)",
        statement=(
            "Averaging the outputs of nets just beyond N* beats the largest single nets: the mean "
            "test error of single nets at the largest N minus the test error of the ensemble "
            "average at the smallest N above N*; SE from the seeds and the test-set size."
        ),
        paper_value="the best generalisation from an ensemble of nets just beyond N*",
        rule=above(0.0, sigmas=2),
    ),
)
