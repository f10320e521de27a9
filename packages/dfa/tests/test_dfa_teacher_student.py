"""Shallow theory: closed-form integrals vs Monte Carlo, ODE vs online SGD simulation."""

from __future__ import annotations

import numpy as np
import pytest

from dltheory.core.errors import ConfigError
from dltheory.dfa.teacher_student import (
    TeacherStudentConfig,
    g,
    g_prime,
    generalisation_error,
    i2_matrix,
    i3_tensor,
    i4_tensor,
    initial_state,
    integrate_ode,
    j2_matrix,
    simulate,
)


def test_erf_integrals_match_monte_carlo():
    rng = np.random.default_rng(0)
    factor = rng.standard_normal((4, 4)) * 0.6
    cov = factor @ factor.T + 0.3 * np.eye(4)
    u = rng.multivariate_normal(np.zeros(4), cov, size=1_000_000)
    gu, gpu = g(u), g_prime(u)
    se = 4e-3  # ~4 Monte-Carlo standard errors at 1e6 samples
    assert i2_matrix(cov)[0, 3] == pytest.approx(np.mean(gu[:, 0] * gu[:, 3]), abs=se)
    assert i3_tensor(cov, 2)[1, 0, 2] == pytest.approx(
        np.mean(gpu[:, 1] * u[:, 0] * gu[:, 2]), abs=se
    )
    assert i4_tensor(cov, 2)[0, 1, 2, 3] == pytest.approx(
        np.mean(gpu[:, 0] * gpu[:, 1] * gu[:, 2] * gu[:, 3]), abs=se
    )
    assert i4_tensor(cov, 2)[1, 1, 3, 3] == pytest.approx(
        np.mean(gpu[:, 1] ** 2 * gu[:, 3] ** 2), abs=se
    )
    assert j2_matrix(cov, 2)[0, 1] == pytest.approx(np.mean(gpu[:, 0] * gpu[:, 1]), abs=se)


def test_generalisation_error_matches_a_fresh_test_set():
    cfg = TeacherStudentConfig(n_inputs=50, student_hidden=3, init_sd_v=1.0)
    st = initial_state(cfg)
    q, r, t = st.order_parameters()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200_000, 50))
    err = g(x @ st.teacher_w.T / np.sqrt(50)) @ st.teacher_a - g(x @ st.w.T / np.sqrt(50)) @ st.v
    assert generalisation_error(q, r, t, st.v, st.teacher_a) == pytest.approx(
        0.5 * np.mean(err**2), rel=0.02
    )


def test_dfa_simulation_tracks_the_ode_and_aligns():
    """N=1000 online SGD vs the ODE from the same initial condition (Sec. 3 of the paper)."""
    cfg = TeacherStudentConfig(n_inputs=1000, time=12.0, n_logs=15, method="dfa")
    state = initial_state(cfg)
    sim = simulate(cfg, state)
    ode = integrate_ode(cfg, state)
    ode_eg = np.interp(sim["t"], ode["t"], ode["eg"])
    rel = np.abs(sim["eg"] - ode_eg) / ode_eg
    assert sim["eg"][-1] < 0.3 * sim["eg"][0]  # the error really falls: a non-trivial check
    assert rel.max() < 0.06
    assert rel.mean() < 0.02
    # Align phase: cos(v, b) starts negative and rises to ~1 before the error has dropped.
    assert ode["cos_vb"][0] < 0
    assert sim["cos_vb"][0] < 0
    aligned = np.argmax(ode["cos_vb"] > 0.9)
    assert ode["eg"][aligned] > 0.5 * ode["eg"][0]
    assert ode["cos_vb"][-1] > 0.95
    assert sim["cos_vb"][-1] > 0.95


def test_bad_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="K = 2 M"):
        initial_state(TeacherStudentConfig(feedback="orthogonal", student_hidden=3))
    with pytest.raises(ConfigError, match="method"):
        initial_state(TeacherStudentConfig(method="sgd"))
