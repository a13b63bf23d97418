"""Measured figures of the particle models: wall time, steps, accuracy vs Crank and PyBaMM's SPM, 2D and 3D timings.

Run: .venv/bin/python benchmarks/bench_particle.py            (prints one line per figure)
     .venv/bin/python benchmarks/bench_particle.py --only 3d  (the 3D voxel particles only, ~5-10 min on 2 cores)
     .venv/bin/python benchmarks/bench_particle.py --only 1d2d
Each 3D timing runs in a fresh subprocess so its peak memory (ru_maxrss) is its own; the machine load
(os.getloadavg) is printed with every timing because the 2-core machine is shared.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("FIPY_SOLVERS", "scipy")

import numpy as np

from electrode_design.params import FARADAY_C_MOL, parameter_set, to_pybamm
from electrode_design.particle import (c_axis_factors, crank_sphere_surface_sol, discharge_cross_section,
                                       discharge_particle_3d, discharge_sphere, fit_effective_diffusivity,
                                       rated_capacity, synthetic_cross_section, synthetic_particle_3d)


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


def main_1d2d():
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


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f} on {os.cpu_count()} cores"


def run_case(spec: dict) -> dict:
    """One 3D discharge in this process: wall and CPU time, unknowns, peak RSS (MB) above the RSS after imports."""
    params = parameter_set("chen2020_nmc811")
    radius_vox = spec["radius_vox"]
    voxel = params.positive.particle_radius_m / radius_vox
    mask, c_axis = synthetic_particle_3d(spec["kind"], radius_vox=radius_vox, n_grains=spec.get("n_grains", 60), seed=0)
    options = {"c_axis": c_axis} if spec.get("anisotropic", True) else {}
    from electrode_design.particle import _import_fipy

    _import_fipy()  # imported lazily by the model: count it with the imports, not with the run
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_before = _load()
    started, cpu = time.perf_counter(), time.process_time()
    run = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=spec["c_rate"], snapshots_dod=(), **options)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parameters = json.loads(run.attrs["parameters"])
    return {"wall_s": wall, "cpu_s": cpu, "unknowns": parameters["unknowns"], "image": list(mask.shape),
            "reaction_faces": parameters["reaction_faces"], "steps": run.attrs["time_steps"],
            "newton": run.attrs["picard_iterations"], "cg_iterations": run.attrs["linear_iterations"],
            "domain_build_s": run.attrs["domain_build_s"], "rated_capacity": run.attrs["rated_capacity"],
            "status": run.attrs["status"], "conservation_error": run.attrs["conservation_error"],
            "peak_rss_MB": peak, "rss_after_imports_MB": rss_before, "load_before": load_before, "load_after": _load()}


def _subprocess_case(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", json.dumps(spec)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rms_V(run, reference) -> float:
    grid = np.linspace(0, 0.95 * min(float(run.time[-1]), float(reference.time[-1])), 400)
    diff = np.interp(grid, run.time, run.voltage) - np.interp(grid, reference.time, reference.voltage)
    return float(np.sqrt(np.mean(diff ** 2)))


def main_3d():
    params = parameter_set("chen2020_nmc811")
    radius = params.positive.particle_radius_m
    print(f"3D voxel particles, Chen 2020 NMC811 (R = {radius * 1e6:.2f} um, D_s = 4e-15 m2/s), solver cg_jacobi; {_load()}")
    # timings: polycrystal (13 c-axis classes, 60 grains) 32 and 48 voxels across, 1C, each in a fresh process
    for radius_vox in (16, 24):
        r = _subprocess_case({"kind": "polycrystal", "radius_vox": radius_vox, "c_rate": 1.0})
        print(f"3D polycrystal {2 * radius_vox} voxels across (image {'x'.join(map(str, r['image']))}) 1C: wall {r['wall_s']:.1f} s "
              f"(CPU {r['cpu_s']:.1f} s), {r['unknowns']} unknowns, {r['reaction_faces']} reaction faces, "
              f"{r['steps']} steps, {r['newton']} Newton iterations, {r['cg_iterations']} CG iterations, domain build "
              f"{r['domain_build_s']:.2f} s, peak RSS {r['peak_rss_MB']:.0f} MB ({r['peak_rss_MB'] - r['rss_after_imports_MB']:.0f} MB "
              f"above imports), rated capacity {r['rated_capacity']:.4f} ({r['status']}), conservation "
              f"{r['conservation_error']:.1e}; {r['load_before']} -> {r['load_after']}")
    # accuracy: isotropic voxel sphere vs the 1D sphere of the same volume
    for rate in (1.0, 5.0):
        for radius_vox in (8, 12, 16):
            mask, _ = synthetic_particle_3d("single_crystal", radius_vox=radius_vox)
            voxel = radius / radius_vox
            started = time.perf_counter()
            run = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=rate, snapshots_dod=())
            wall = time.perf_counter() - started
            equivalent = (3 * mask.sum() / (4 * np.pi)) ** (1 / 3) * voxel
            reference = discharge_sphere(params, radius_m=equivalent, c_rate=rate, snapshots_dod=())
            error = run.attrs["rated_capacity"] / reference.attrs["rated_capacity"] - 1
            print(f"isotropic voxel sphere {2 * radius_vox} voxels across {rate:g}C vs 1D sphere (R_eq = {equivalent * 1e6:.3f} um): "
                  f"capacity to cut-off {run.attrs['rated_capacity']:.4f} vs {reference.attrs['rated_capacity']:.4f} ({error:+.2%}), "
                  f"voltage RMS {_rms_V(run, reference) * 1e3:.1f} mV, reaction area / 4 pi R_eq^2 = "
                  f"{json.loads(run.attrs['parameters'])['reaction_area_m2'] / (4 * np.pi * equivalent ** 2):.4f}, "
                  f"wall {wall:.1f} s, {run.attrs['status']}; {_load()}")
    # rotation: grain map turned 90 deg about z and about x, tensor components swapped
    mask, c_axis = synthetic_particle_3d("polycrystal", radius_vox=8, n_grains=30, seed=4)
    voxel = radius / 8
    f_x, f_y, f_z = c_axis_factors(np.where(mask[..., None], c_axis, np.array([0.0, 0.0, 1.0])))
    base = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=5.0, diffusivity_factors=(f_x, f_y, f_z),
                                 snapshots_dod=()).attrs["rated_capacity"]
    for name, axes, order in (("z", (1, 2), (1, 0, 2)), ("x", (0, 1), (0, 2, 1))):
        turned = [np.ascontiguousarray(np.rot90(a, axes=axes)) for a in (mask, f_x, f_y, f_z)]
        factors = tuple(turned[1 + k] for k in order)
        value = float(rated_capacity(turned[0], params, voxel_size_m=voxel, c_rates=(5.0,),
                                     diffusivity_factors=factors).rated_capacity[0])
        print(f"rotation about {name} (16 voxels across, polycrystal, 5C): rated capacity {value:.6f} vs {base:.6f} "
              f"(relative difference {abs(value / base - 1):.1e})")
    # the paper's particle architectures at 5C, same outline
    charge = {}
    for kind, cracks in (("polycrystal", 0.0), ("polycrystal", 0.5), ("single_crystal", 0.0), ("radial", 0.0), ("double_layer", 0.0)):
        mask, c_axis = synthetic_particle_3d(kind, radius_vox=8, n_grains=30, seed=2, crack_fraction=cracks)
        started = time.perf_counter()
        run = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=5.0, c_axis=c_axis, snapshots_dod=())
        label = kind + (f" + cracks on {cracks:.0%} of the inner grain boundaries" if cracks else "")
        print(f"3D {label}, 16 voxels across, 5C: rated capacity {run.attrs['rated_capacity']:.4f} ({run.attrs['status']}), "
              f"wall {time.perf_counter() - started:.1f} s")
        if kind == "polycrystal" and not cracks:
            charge["whole"], solid, whole_mask, whole_axis = float(run.capacity[-1]), mask.sum(), mask, c_axis
        elif kind == "polycrystal":
            # 1C counts the cracked particle's own (smaller) volume: compare at the uncracked particle's current too
            same_current = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=5.0 * solid / mask.sum(),
                                                 c_axis=c_axis, snapshots_dod=())
            print(f"  cracks remove {1 - mask.sum() / solid:.1%} of the solid; at the uncracked particle's 5C current the "
                  f"cracked one passes {float(same_current.capacity[-1]) / charge['whole']:.4f} x its charge to the cut-off")
            # at 1C the lithiated shell reaches the cracked core: there the cracks cost charge
            whole_1c = discharge_particle_3d(whole_mask, params, voxel_size_m=voxel, c_rate=1.0, c_axis=whole_axis,
                                             snapshots_dod=())
            cracked_1c = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=solid / mask.sum(),
                                               c_axis=c_axis, snapshots_dod=())
            print(f"  at the uncracked particle's 1C current: rated capacity {whole_1c.attrs['rated_capacity']:.4f} "
                  f"uncracked, {cracked_1c.attrs['rated_capacity']:.4f} cracked (of its own charge), and the cracked "
                  f"one passes {float(cracked_1c.capacity[-1]) / float(whole_1c.capacity[-1]):.4f} x the uncracked "
                  "one's charge")
    mask, c_axis = synthetic_particle_3d("polycrystal", radius_vox=8, n_grains=30, seed=2)
    started = time.perf_counter()
    fit = fit_effective_diffusivity(mask, params, voxel_size_m=voxel, c_rate=5.0, c_axis=c_axis)
    print(f"SST tortuosity of the 3D polycrystal (16 voxels across) at 5C: {fit['tortuosity']:.3f} "
          f"({len(fit['evaluations'])} homogeneous runs, {time.perf_counter() - started:.1f} s); {_load()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("1d2d", "3d"), help="run one group of figures")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.case:
        print(json.dumps(run_case(json.loads(arguments.case))))
    else:
        if arguments.only in (None, "1d2d"):
            main_1d2d()
        if arguments.only in (None, "3d"):
            main_3d()
