"""Measured figures of the particle models: wall time, steps, accuracy vs Crank and PyBaMM's SPM, 2D timings.

Run: .venv/bin/python benchmarks/bench_particle.py   (prints one line per figure)
"""
import os
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("FIPY_SOLVERS", "scipy")

import numpy as np

from electrode_design.params import FARADAY_C_MOL, parameter_set, to_pybamm
from electrode_design.particle import (crank_sphere_surface_sol, discharge_cross_section, discharge_sphere,
                                       fit_effective_diffusivity, synthetic_cross_section)


def spm_rms_V(params, ds):
    import pybamm

    pos = params.positive
    radius = pos.particle_radius_m
    current_density = float(ds.current[0]) / (4 * np.pi * radius ** 2)
    values = to_pybamm(params)
    values.update({"Current function [A]": current_density * params.electrode_area_m2 * 3 * pos.active_volume_fraction
                   * pos.thickness_m / radius})
    model = pybamm.lithium_ion.SPM({"working electrode": "positive"})
    sim = pybamm.Simulation(model, parameter_values=values, var_pts={**model.default_var_pts, "r_p": 60})
    t_end = float(ds.time[-1]) * 1.2
    started = time.perf_counter()
    sol = sim.solve([0, t_end], t_interp=np.linspace(0, t_end, 2000))
    wall = time.perf_counter() - started
    t_ref = sol["Time [s]"].entries
    v_ref = (sol["X-averaged positive electrode open-circuit potential [V]"].entries
             + sol["X-averaged positive electrode reaction overpotential [V]"].entries)
    grid = np.linspace(0, 0.99 * min(t_ref[-1], float(ds.time[-1])), 1000)
    diff = np.interp(grid, ds.time, ds.voltage) - np.interp(grid, t_ref, v_ref)
    return float(np.sqrt(np.mean(diff ** 2))), float(t_ref[-1]), wall


def main():
    params = parameter_set("chen2020_nmc811")
    radius = params.positive.particle_radius_m
    for rate in (1.0, 5.0):
        discharge_sphere(params, c_rate=rate)  # warm-up (imports, FiPy mesh)
        started = time.perf_counter()
        ds = discharge_sphere(params, c_rate=rate)
        wall = time.perf_counter() - started
        print(f"1D sphere {rate:g}C: wall {wall:.3f} s, {ds.attrs['time_steps']} steps, "
              f"{ds.attrs['linear_iterations']} linear solves (direct, tridiagonal), rated capacity "
              f"{ds.attrs['rated_capacity']:.4f}, t_cutoff {float(ds.time[-1]):.1f} s, "
              f"conservation error {ds.attrs['conservation_error']:.2e}")
        flux = float(ds.current[0]) / (4 * np.pi * radius ** 2) / (FARADAY_C_MOL * params.positive.material.c_max_mol_m3)
        ref = crank_sphere_surface_sol(ds.time.values, radius_m=radius, diffusivity_m2_s=4e-15, flux_sol_m_s=flux,
                                       sol_initial=params.positive.sol_initial)
        err = np.abs(ds.sol_surface.values / ref - 1)
        print(f"  Crank surface SoL error {rate:g}C: max {err[ds.time.values >= 1.0].max():.2e} (t >= 1 s), "
              f"{err.max():.2e} (all steps)")
        rms, t_ref, wall_ref = spm_rms_V(params, ds)
        print(f"  PyBaMM SPM {rate:g}C: RMS voltage difference {rms * 1e3:.2f} mV over 99 % of the discharge; "
              f"t_cutoff {t_ref:.1f} s (ours {float(ds.time[-1]):.1f} s); PyBaMM solve {wall_ref:.2f} s")
    for radius_px in (12, 24):
        pixel = radius / radius_px
        mask, _ = synthetic_cross_section("radial", radius_px=radius_px)
        cylinder = discharge_sphere(params, c_rate=1.0, geometry="cylinder")
        started = time.perf_counter()
        run = discharge_cross_section(mask, params, pixel_size_m=pixel, c_rate=1.0)
        wall = time.perf_counter() - started
        print(f"2D isotropic disc r = {radius_px} px ({int(mask.sum())} pixels) 1C: wall {wall:.2f} s, "
              f"{run.attrs['time_steps']} steps, {run.attrs['picard_iterations']} Newton iterations; rated capacity "
              f"{run.attrs['rated_capacity']:.4f} vs 1D cylinder {cylinder.attrs['rated_capacity']:.4f}")
    radius_px = 12
    pixel = radius / radius_px
    mask, angles = synthetic_cross_section("polycrystal", radius_px=radius_px, seed=1, n_grains=12)
    for kind in ("polycrystal", "single_crystal", "radial", "double_layer"):
        m, o = synthetic_cross_section(kind, radius_px=radius_px, seed=1, n_grains=12)
        started = time.perf_counter()
        run = discharge_cross_section(m, params, pixel_size_m=pixel, c_rate=5.0, orientation_deg=o, snapshots_dod=())
        print(f"2D {kind} r = 12 px 5C: rated capacity {run.attrs['rated_capacity']:.4f}, "
              f"wall {time.perf_counter() - started:.2f} s, status {run.attrs['status']}")
    started = time.perf_counter()
    fit = fit_effective_diffusivity(mask, params, pixel_size_m=pixel, c_rate=5.0, orientation_deg=angles)
    print(f"SST tortuosity of the r = 12 px polycrystal at 5C: {fit['tortuosity']:.3f} "
          f"({len(fit['evaluations'])} homogeneous runs, {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
