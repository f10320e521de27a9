"""The fake plugin's claims: one judged at quick scale, one that needs the paper scale."""

from dltheory.core.claims import Claim, above, within

CLAIMS = (
    Claim(
        id="fakegood.slope",
        paper="0000.00000",
        where="Fig. 1",
        statement="The slope is one half.",
        paper_value="0.5",
        rule=within(0.5, rel=0.1, sigmas=2),
    ),
    Claim(
        id="fakegood.big",
        paper="0000.00000",
        where="Table 1",
        statement="The big model is better.",
        paper_value="gap > 0",
        rule=above(0.0),
        min_scale="paper",
        requires="a GPU and the full dataset",
    ),
)
