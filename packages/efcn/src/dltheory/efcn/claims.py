"""The paper's headline claims (arXiv:1906.06766), as data. Imports dltheory.core.claims alone.

The paper's body text was not available (reference notes A.6): the statements below are the
abstract's, and the paper gives no numbers that apply to our tasks, so each qualitative claim is
measured as a number over seeds (a difference in test accuracy, a deviation ratio, a barrier) and
judged with its standard error across seeds.
"""

from dltheory.core.claims import Claim, above, below

PAPER = "1906.06766"  # d'Ascoli, Sagun, Bruna, Biroli 2019 (NeurIPS)

CLAIMS = (
    Claim(
        id="efcn.efcn_beats_fcn",
        paper=PAPER,
        where="abstract",
        statement=(
            "The final eFCN beats the standard FCN of the same architecture (dense init): measured "
            "as the test accuracy of the eFCN, averaged over the switch times t_w < epochs, minus "
            "that of the FCN twin, per seed."
        ),
        paper_value="eFCN above the FCN for all switch times (no number for our tasks)",
        rule=above(0.0, sigmas=2),
    ),
    Claim(
        id="efcn.intermediate_switch_beats_cnn",
        paper=PAPER,
        where="abstract",
        statement=(
            "For intermediate switch times the eFCN outperforms the CNN it stemmed from: measured as "
            "the eFCN test accuracy averaged over the intermediate t_w (0 < t_w < epochs) minus the "
            "CNN's after the whole budget, per seed (the average, not the best t_w, so no selection)."
        ),
        paper_value="eFCN above the CNN for some intermediate t_w (no number for our tasks)",
        rule=above(0.0, sigmas=2),
    ),
    Claim(
        id="efcn.small_deviation",
        paper=PAPER,
        where="abstract",
        statement=(
            "For all switch times the deviation from the CNN subspace stays small: measured as the "
            "largest final |theta - P theta| / |theta| over the switch times, divided by the same "
            "ratio for the dense-init FCN twin, per seed; 'small' is read as under half the twin's."
        ),
        paper_value="small for every t_w (no number)",
        rule=below(0.5, sigmas=2),
    ),
    Claim(
        id="efcn.efcn_fcn_barrier",
        paper=PAPER,
        where="abstract",
        statement=(
            "The eFCN reaches rare basins of FCN space that the FCN misses: measured as the train-"
            "loss barrier on the linear path from the final eFCN to the final FCN twin, averaged "
            "over the switch times, per seed (a barrier > 0 means different basins)."
        ),
        paper_value="separate basins (abstract: 'rare basins ... otherwise missed'; no number)",
        rule=above(0.0, sigmas=2),
    ),
)
