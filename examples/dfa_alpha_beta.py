"""Deep linear DFA: weight alignment falls as the alpha-beta target statistics get ill-conditioned.

python examples/dfa_alpha_beta.py
"""

from dltheory.dfa.deep_linear import LinearDFAConfig, run_linear_dfa

for alpha, beta in [(1.0, 1.0), (1.0, 0.2), (0.2, 1.0), (0.2, 0.2)]:
    res = run_linear_dfa(LinearDFAConfig(alpha=alpha, beta=beta, steps=300))
    print(
        f"alpha={alpha} beta={beta}: cond(A_2)={res['cond_A2']:7.2f}  "
        f"WA={res['wa_total']:.3f}  (wide-net prediction {res['wa_pred_layer2']:.3f})"
    )
