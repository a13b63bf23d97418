"""The shared numerical core (electrode_design.numerics) and the solvers' use of its one Butler–Volmer law."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from electrode_design.conventions import ParameterError
from electrode_design.numerics import (FixedPattern, VCycle, block_multigrid, butler_volmer, face_pairs, gmres,
                                       harmonic_mean, interface_faces, overpotential)
from electrode_design.params import FARADAY_C_MOL, GAS_CONSTANT_J_MOL_K, parameter_set

PARAMS = parameter_set("chen2020_nmc811")


def test_face_pairs_are_the_face_neighbours_in_c_order():
    shape = (3, 4, 5)
    for axis in range(3):
        a, b = face_pairs(shape, axis)
        za, zb = np.array(np.unravel_index(a, shape)), np.array(np.unravel_index(b, shape))
        step = np.zeros((3, 1), int)
        step[axis] = 1
        assert np.array_equal(zb - za, np.broadcast_to(step, za.shape))
        assert a.size == (shape[axis] - 1) * math.prod(shape) // shape[axis]
    a32, _ = face_pairs(shape, 0, dtype=np.int32)
    assert a32.dtype == np.int32
    with pytest.raises(ParameterError, match="axis"):
        face_pairs(shape, 3)


def test_interface_faces_count_the_surface_of_a_block():
    inside = np.zeros((6, 6, 6), bool)
    inside[1:4, 2:4, 1:5] = True                     # 3 × 2 × 4 voxels
    cells_in, cells_out, axes = interface_faces(inside, ~inside)
    assert cells_in.size == 2 * (3 * 2 + 3 * 4 + 2 * 4)
    assert inside.ravel()[cells_in].all() and not inside.ravel()[cells_out].any()
    assert np.bincount(axes).tolist() == [2 * 2 * 4, 2 * 3 * 4, 2 * 3 * 2]


def test_harmonic_mean_is_two_conductances_in_series():
    assert np.allclose(harmonic_mean([1.0, 2.0, 0.0, 5.0], [1.0, 6.0, 0.0, 0.0]), [1.0, 3.0, 0.0, 0.0])


def test_fixed_pattern_sums_repeated_terms_like_scipy():
    rng = np.random.default_rng(0)
    n, terms = 40, 500
    rows, cols, values = rng.integers(0, n, terms), rng.integers(0, n, terms), rng.standard_normal(terms)
    expected = sp.coo_matrix((values, (rows, cols)), shape=(n, n)).toarray()
    pattern = FixedPattern(rows, cols, n)
    assert np.allclose(pattern.assemble(values).toarray(), expected)
    entries = sorted(set(zip(rows.tolist(), cols.tolist())))
    lookup = {e: k for k, e in enumerate(entries)}
    direct = FixedPattern.from_entries([r for r, _ in entries], [c for _, c in entries],
                                       [lookup[e] for e in zip(rows.tolist(), cols.tolist())], n)
    assert np.array_equal(direct.indptr, pattern.indptr) and np.array_equal(direct.indices, pattern.indices)
    assert np.allclose(direct.assemble(values).toarray(), expected)


def test_overpotential_inverts_butler_volmer():
    f = FARADAY_C_MOL / (GAS_CONSTANT_J_MOL_K * 298.15)
    j = np.array([-30.0, -1.0, 0.0, 2.0, 50.0])
    for alpha_a, alpha_c in ((0.5, 0.5), (0.35, 0.65)):
        eta = overpotential(j, 3.0, alpha_a, alpha_c, f)
        assert np.allclose(butler_volmer(3.0, eta, alpha_a, alpha_c, f)[0], j, rtol=1e-10, atol=1e-12)
    assert overpotential(1.0, 0.0, 0.5, 0.5, f) == np.inf and overpotential(-1.0, 0.0, 0.5, 0.5, f) == -np.inf


def test_block_multigrid_preconditions_a_voxel_poisson_problem():
    rng = np.random.default_rng(1)
    mask = rng.random((20, 20, 20)) < 0.75
    n = int(mask.sum())
    index = np.full(mask.size, -1)
    index[mask.ravel()] = np.arange(n)
    a = np.concatenate([face_pairs(mask.shape, k)[0] for k in range(3)])
    b = np.concatenate([face_pairs(mask.shape, k)[1] for k in range(3)])
    keep = mask.ravel()[a] & mask.ravel()[b]
    a, b = index[a[keep]], index[b[keep]]
    ones = np.ones(a.size)
    A = FixedPattern(np.concatenate([a, a, b, b, np.arange(n)]), np.concatenate([a, b, a, b, np.arange(n)]), n)
    A = A.assemble(np.concatenate([ones, -ones, -ones, ones, np.full(n, 0.05)]))
    rhs = rng.standard_normal(n)
    x, iterations, info = gmres(lambda v: A @ v, VCycle(block_multigrid(A, mask)), rhs, rtol=1e-10, maxiter=200)
    assert info == 0 and iterations < 60
    assert np.allclose(x, spla.spsolve(A.tocsc(), rhs), atol=1e-7)


def test_gpnp_and_particle_share_one_butler_volmer_law():
    """One analytic value, with the package's sign (anodic current positive), in numerics, gpnp and particle."""
    from electrode_design import gpnp, particle
    from electrode_design.gpnp.physics import _Model, _logit

    mat = PARAMS.positive.material
    T, c_e, theta, voltage = 298.15, 1000.0, 0.62, 3.85
    f = FARADAY_C_MOL / (GAS_CONSTANT_J_MOL_K * T)
    U = float(mat.ocv(theta))
    i0 = mat.rate_constant * mat.c_max_mol_m3 * math.sqrt(c_e) * math.sqrt(theta * (1 - theta))
    eta = voltage - U
    by_hand = i0 * (math.exp(mat.alpha_a * f * eta) - math.exp(-mat.alpha_c * f * eta))
    assert eta > 0 and by_hand > 0                   # above the OCV the material delithiates: anodic, positive
    assert float(butler_volmer(i0, eta, mat.alpha_a, mat.alpha_c, f)[0]) == pytest.approx(by_hand, rel=1e-12)
    assert float(mat.exchange_current_density_A_m2(c_e, theta)) == pytest.approx(i0, rel=1e-12)

    phase = np.zeros((3, 2, 2), np.uint8)
    phase[0] = 1
    m = _Model(gpnp.build_cell(phase, voxel_size_m=1e-6, params=PARAMS))
    one = np.ones(1)
    j_gpnp = m.surface(_logit(theta) * one, theta * one, c_e * one, 0.0 * one, voltage, one, 0.0 * one)[3]
    assert float(j_gpnp[0]) == pytest.approx(by_hand, rel=1e-9)

    conditions, _ = particle._resolve_conditions(PARAMS, sol_initial=None, c_e_mol_m3=c_e, temperature_K=T, cutoff_V=None)
    j_particle = float(particle._insertion_current(conditions, np.array([theta]), voltage)[0])
    assert j_particle == pytest.approx(-by_hand, rel=1e-9)  # the particle counts lithiation positive
