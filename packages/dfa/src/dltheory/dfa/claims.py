"""The claims of *Align, then memorise* (Refinetti, d'Ascoli, Ohana, Goldt; ICML 2021,
arXiv:2011.12428) that `dltheory dfa reproduce` measures. Data only (no torch)."""

from __future__ import annotations

from dltheory.core.claims import Claim, above, below

PAPER = "2011.12428"  # Refinetti, d'Ascoli, Ohana, Goldt: Align, then memorise (ICML 2021)
MNIST_NEEDS = "MNIST-t10k (shared/data/mnist-t10k) and about 3 minutes of one core"

CLAIMS = (
    Claim(
        id="dfa.align_then_memorise",
        paper=PAPER,
        where="Sec. 3, Fig. 1 (shallow teacher-student, DFA)",
        statement=(
            "The alignment cos(v, b) rises before the generalisation error falls: the time at "
            "which eps_g has halved exceeds the time at which cos(v, b) reaches 0.9, in the ODE "
            "and in the simulation. Measured: log10(t_error_halved / t_aligned), the smaller of "
            "ODE and simulation per initial condition, mean over seeds."
        ),
        paper_value="align first, memorise after (qualitative)",
        rule=above(0.0, sigmas=2),
    ),
    Claim(
        id="dfa.ode_matches_simulation",
        paper=PAPER,
        where="Sec. 3, Fig. 1 (ODE lines vs simulation points)",
        statement=(
            "The ODEs for the order parameters describe online DFA SGD: the maximal relative "
            "deviation of the simulated eps_g(t) from the ODE started from the same initial "
            "condition, mean over seeds, stays below 10%."
        ),
        paper_value="ODE and simulation agree (qualitative, large N)",
        rule=below(0.10, sigmas=2),
    ),
    Claim(
        id="dfa.degeneracy_breaking",
        paper=PAPER,
        where="Sec. 4-5 (degeneracy breaking; the code's calc_final_angles)",
        statement=(
            "DFA solutions reached from different weight seeds with the same feedback B are more "
            "similar than BP solutions: mean cosine between final weights (all layers) of DFA "
            "runs minus that of BP runs, jackknife SE over seeds."
        ),
        paper_value="DFA cosine > BP cosine",
        rule=above(0.0, sigmas=2),
    ),
    Claim(
        id="dfa.conditioning",
        paper=PAPER,
        where="Sec. 4 (deep linear networks, alpha-beta task)",
        statement=(
            "In deep linear DFA, worse-conditioned alignment matrices give lower weight "
            "alignment: the correlation between log cond(A_2) and WA over the alpha-beta grid "
            "is negative (mean over feedback seeds)."
        ),
        paper_value="alignment falls with the conditioning of the target statistics",
        rule=below(0.0, sigmas=2),
    ),
    Claim(
        id="dfa.cnn_failure",
        paper=PAPER,
        where="Sec. 5 (convolutional networks)",
        statement=(
            "DFA fails to align CNNs: the gradient alignment of a DFA CNN is lower than that of a "
            "DFA MLP, and its test accuracy lower than the same CNN trained by BP. Measured: "
            "the smaller of the two gaps (GA_MLP - GA_CNN, acc_BP - acc_DFA), mean over seeds."
        ),
        paper_value="CNNs align far less and lose accuracy against BP",
        rule=above(0.0, sigmas=2),
    ),
    Claim(
        id="dfa.bottom_to_top",
        paper=PAPER,
        where="Abstract, Sec. 5 (deep nonlinear networks: align then memorise layer by layer)",
        statement=(
            "In a deep nonlinear DFA network the layers align from the bottom to the top: the "
            "slope of log10(alignment time) against layer index (WA_l reaching half its maximum, "
            "layers 2..L) is positive, mean over seeds. Full scale: MNIST-t10k."
        ),
        paper_value="bottom layers align first",
        rule=above(0.0, sigmas=2),
    ),
    Claim(
        id="dfa.mnist_close_to_bp",
        paper=PAPER,
        where="Sec. 5 / BioTorch benchmarks (MNIST: DFA close to BP)",
        statement=(
            "On MNIST a DFA MLP reaches a test accuracy close to BP's: acc_BP - acc_DFA, paired "
            "by seed, is below 2 percentage points (MLP 784-256-256-10, MNIST-t10k split "
            "8000/2000)."
        ),
        paper_value="DFA within about 1 point of BP (BioTorch LeNet: 1.61% vs 0.91% error)",
        rule=below(0.02, sigmas=2),
        min_scale="full",
        requires=MNIST_NEEDS,
    ),
)
