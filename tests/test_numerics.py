"""The shared numerical core (electrode_design.numerics) and the solvers' use of its one Butler–Volmer law."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from electrode_design.conventions import ParameterError
from electrode_design.numerics import (AggregateCorrection, FixedPattern, VCycle, block_multigrid, butler_volmer,
                                       face_pairs, gmres, harmonic_mean, interface_faces, layer_tiles, overpotential)
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


def _pore_laplacian(shape, porosity, *, absorption, seed=0):
    """A 6-neighbour Laplacian on the pores of a random image plus a diagonal absorption, with the pores' (z, y, x)."""
    rng = np.random.default_rng(seed)
    pores = rng.random(shape) < porosity
    pores[:, shape[1] // 2, shape[2] // 2] = True  # one straight channel keeps it connected
    n = int(pores.sum())
    index = np.full(pores.size, -1)
    index[pores.ravel()] = np.arange(n)
    a = np.concatenate([face_pairs(shape, axis)[0] for axis in range(3)])
    b = np.concatenate([face_pairs(shape, axis)[1] for axis in range(3)])
    keep = pores.ravel()[a] & pores.ravel()[b]
    a, b = index[a[keep]], index[b[keep]]
    ones = np.ones(a.size)
    pattern = FixedPattern(np.concatenate([a, a, b, b, np.arange(n)]), np.concatenate([a, b, a, b, np.arange(n)]), n)
    A = pattern.assemble(np.concatenate([ones, -ones, -ones, ones, np.full(n, absorption)]))
    return A, np.unravel_index(np.flatnonzero(pores), shape)


def test_term_accumulator_sums_groups_exactly_as_one_sum_and_checks_the_count():
    rng = np.random.default_rng(3)
    rows, cols = rng.integers(0, 50, 400), rng.integers(0, 50, 400)
    values = rng.standard_normal(400)
    pattern = FixedPattern(rows, cols, 50)
    assert pattern.slot.dtype == np.int32
    expected = sp.coo_matrix((values, (rows, cols)), shape=(50, 50)).toarray()
    terms = pattern.accumulator()
    terms += [values[:100], values[100:250]]
    terms.append(values[250:])
    J = terms.matrix()
    assert np.allclose(J.toarray(), expected, rtol=0, atol=1e-12)
    assert np.array_equal(J.data, pattern.assemble(values).data)  # same order of summation: bitwise equal
    short = pattern.accumulator()
    short.append(values[:10])
    with pytest.raises(ValueError, match="10 terms given"):
        short.matrix()
    with pytest.raises(ValueError, match="more terms"):
        pattern.accumulator().append(np.ones(401))


def test_layer_tiles_label_each_layer_and_column_once():
    shape = (5, 6, 7)
    zyx = np.unravel_index(np.arange(math.prod(shape)), shape)
    labels = layer_tiles(zyx, shape, tile=3)
    assert labels.dtype == np.int32
    assert np.array_equal(np.unique(labels), np.arange(5 * 2 * 3))  # 5 layers × ⌈6/3⌉ × ⌈7/3⌉ tiles, none empty
    z, y, x = zyx
    key = (z * 10 + y // 3) * 10 + x // 3
    for k in np.unique(labels):  # one label, one (layer, tile)
        assert np.unique(key[labels == k]).size == 1
    sparse = layer_tiles((z[::4], y[::4], x[::4]), shape, tile=3)  # missing nodes leave no empty label
    assert sparse.max() + 1 == np.unique(sparse).size


def test_aggregate_correction_zeroes_the_aggregated_residual_and_helps_the_v_cycle():
    import pyamg

    shape = (96, 8, 8)
    A, zyx = _pore_laplacian(shape, 0.45, absorption=1e-6)
    rng = np.random.default_rng(1)
    b = rng.standard_normal(A.shape[0])
    labels = layer_tiles(zyx, shape, tile=8)
    correction = AggregateCorrection(A, labels)
    cycle = VCycle(pyamg.ruge_stuben_solver(A, max_coarse=50, coarse_solver="splu"))
    x = correction(b, cycle(b))
    aggregated = np.bincount(labels, weights=b - A @ x)
    assert np.abs(aggregated).max() < 1e-9 * np.abs(b).sum()
    plain = gmres(lambda v: A @ v, cycle, b, rtol=1e-8, maxiter=300)
    corrected = gmres(lambda v: A @ v, lambda r: correction(r, cycle(r)), b, rtol=1e-8, maxiter=300)
    assert plain[2] == corrected[2] == 0
    assert corrected[1] < plain[1]
    assert np.allclose(corrected[0], spla.spsolve(A.tocsc(), b), rtol=1e-5, atol=1e-6 * np.abs(corrected[0]).max())


def test_single_precision_coarse_levels_and_non_flexible_gmres_give_the_same_solution():
    import pyamg

    A, _ = _pore_laplacian((16, 16, 16), 0.7, absorption=0.1)
    b = np.random.default_rng(2).standard_normal(A.shape[0])
    ml = pyamg.ruge_stuben_solver(A, max_coarse=50, coarse_solver="splu")
    double, single = VCycle(ml), VCycle(ml, coarse_dtype=np.float32)
    assert all(P.dtype == np.float32 for _, P, _ in single.levels) and single.levels[0][0].dtype == np.float64
    y64, y32 = double(b), single(b)
    assert y32.dtype == np.float64
    assert np.linalg.norm(y32 - y64) < 1e-5 * np.linalg.norm(y64)
    exact = spla.spsolve(A.tocsc(), b)
    for precond, flexible in ((double, True), (single, False), (double, False)):
        x, its, info = gmres(lambda v: A @ v, precond, b, rtol=1e-10, maxiter=200, flexible=flexible)
        assert info == 0
        assert np.linalg.norm(A @ x - b) <= 1.01e-10 * np.linalg.norm(b)
        assert np.allclose(x, exact, rtol=1e-7, atol=1e-8)
