"""Shallow teacher-student DFA: ODE vs online SGD from the same initial condition.

python examples/dfa_align_then_memorise.py
"""

import numpy as np

from dltheory.dfa.teacher_student import (
    TeacherStudentConfig,
    initial_state,
    integrate_ode,
    simulate,
)

cfg = TeacherStudentConfig(n_inputs=500, student_hidden=4, teacher_hidden=2, lr=1.0, time=20)
state = initial_state(cfg)
ode, sim = integrate_ode(cfg, state), simulate(cfg, state)
for t, eg_sim, cos in zip(sim["t"][::10], sim["eg"][::10], sim["cos_vb"][::10]):
    eg_ode = np.interp(t, ode["t"], ode["eg"])
    print(f"t={t:7.3f}  eps_g sim={eg_sim:.4f} ode={eg_ode:.4f}  cos(v,b)={cos:+.3f}")
