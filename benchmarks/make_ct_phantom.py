"""Greyscale CT phantom of a three-phase electrode with its ground truth.

Touching ellipsoidal particles (volume-equivalent diameters 6-12 µm, axis ratios up to 1.6,
random orientations) fill about 48 % of the box; carbon-binder (8 % of the box) bridges the
necks between neighbouring particles; the rest is pore. The grey image is rendered with exact
sub-voxel partial volume at the particle surfaces (a one-voxel ramp of the signed distance),
blurred by a Gaussian point-spread function, multiplied by a linear intensity drift along one
axis and given Gaussian noise:

    I = g(axis) * G_blur * (L_p + (L_c - L_p) c + (L_a - L_p) a) + N(0, (L_a - L_p) / CNR)

with a, c the active and carbon-binder voxel fractions, g = 1 + drift * t, t from -1 to 1.
The truth phase of a voxel is active where its active fraction is above one half; particle
labels go to the nearest ellipsoid surface (signed distance).

    python benchmarks/make_ct_phantom.py --size 96 --cnr 3 --seed 0 --out phantom.nc

Used by tests/test_microstructure.py and benchmarks/bench_microstructure.py through `ct_phantom`.
"""
from __future__ import annotations

import argparse

import numpy as np
import xarray as xr
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

LEVELS = {"pore": 0.20, "carbon_binder": 0.45, "active": 1.00}


def _ellipsoid_distance(shape, centre, axes, rot, margin):
    "Approximate signed distance (voxels) to one ellipsoid in its bounding box: (slices, sd)."
    r = float(axes.max()) + margin
    lo = [max(0, int(np.floor(c - r))) for c in centre]
    hi = [min(n, int(np.ceil(c + r)) + 1) for c, n in zip(centre, shape)]
    if any(h <= low for low, h in zip(lo, hi)):
        return None, None
    g = np.meshgrid(*[np.arange(a, b) + 0.5 - c for a, b, c in zip(lo, hi, centre)], indexing="ij")
    p = np.stack(g, axis=-1) @ rot          # body coordinates (rot columns = body axes)
    u = p / axes
    q = np.sqrt((u**2).sum(-1))
    grad = np.sqrt(((u / axes) ** 2).sum(-1)) / np.maximum(q, 1e-9)
    sd = (q - 1.0) / np.maximum(grad, 1e-9)
    return tuple(slice(a, b) for a, b in zip(lo, hi)), sd.astype(np.float32)


def ct_phantom(
    size: int | tuple = 96,
    *,
    seed: int = 0,
    cnr: float = 3.0,
    drift: float = 0.05,
    drift_axis: int = 0,
    blur_vox: float = 1.0,
    voxel_size_m: float = 0.4e-6,
    diameter_m: tuple = (6e-6, 12e-6),
    max_axis_ratio: float = 1.6,
    active_fraction: float = 0.48,
    carbon_binder_fraction: float = 0.08,
    min_gap: float = 0.8,
    levels: dict | None = None,
) -> xr.Dataset:
    """Phantom Dataset: ``image`` (float32 grey), ``phase`` (0 pore, 1 active, 2 carbon-binder),
    ``particle`` (truth ids, 0 = none), ``drift_gain`` (the multiplicative drift along the axis)."""
    shape = (size,) * 3 if np.isscalar(size) else tuple(int(s) for s in size)
    lv = dict(LEVELS, **(levels or {}))
    rng = np.random.default_rng(seed)
    v = float(voxel_size_m)
    best1 = np.full(shape, 1e3, np.float32)     # signed distance to the nearest surface
    best2 = np.full(shape, 1e3, np.float32)     # ... to the second-nearest particle
    label = np.zeros(shape, np.int32)
    centres, radii, n_vox = [], [], float(np.prod(shape))
    margin = 8.0
    tries = 0
    while (best1 < 0).sum() / n_vox < active_fraction and tries < 20000:
        tries += 1
        d = rng.uniform(*diameter_m) / v
        ratio = rng.uniform(1.0, max_axis_ratio)
        s = np.array([ratio, rng.uniform(1.0, ratio), 1.0])
        axes = 0.5 * d * s / np.prod(s) ** (1 / 3)
        c = rng.uniform(0, 1, 3) * np.array(shape)
        if centres:
            dist = np.linalg.norm(np.array(centres) - c, axis=1)
            if np.any(dist < min_gap * (np.array(radii) + d / 2)):
                continue
        rot = Rotation.random(random_state=rng).as_matrix()
        sl, sd = _ellipsoid_distance(shape, c, axes, rot, margin)
        if sl is None:
            continue
        pid = len(centres) + 1
        centres.append(c)
        radii.append(d / 2)
        b1, b2, lb = best1[sl], best2[sl], label[sl]
        nearer = sd < b1
        b2[...] = np.where(nearer, b1, np.minimum(b2, sd))
        b1[...] = np.where(nearer, sd, b1)
        lb[...] = np.where(nearer, pid, lb)
    active_occ = np.clip(0.5 - best1, 0.0, 1.0)
    active = best1 < 0
    # carbon-binder: the non-active voxels closest to a second particle (the necks), plus a
    # smooth random texture so that its surface is not an exact iso-distance
    tex = ndi.gaussian_filter(rng.normal(size=shape).astype(np.float32), 3.0)
    tex *= 1.5 / max(float(tex.std()), 1e-9)
    score = np.where(active, np.inf, best2 + tex)
    k = int(round(carbon_binder_fraction * n_vox))
    t = np.partition(score.ravel(), k)[k] if k > 0 else -np.inf
    cbd = (~active) & (score < t)
    cbd_occ = np.where(cbd, 1.0 - active_occ, 0.0)
    img = lv["pore"] + (lv["carbon_binder"] - lv["pore"]) * cbd_occ + (lv["active"] - lv["pore"]) * active_occ
    img = img.astype(np.float32)
    if blur_vox > 0:
        img = ndi.gaussian_filter(img, blur_vox)
    tt = np.linspace(-1.0, 1.0, shape[drift_axis])
    gain = (1.0 + drift * tt).astype(np.float32)
    bshape = [1, 1, 1]
    bshape[drift_axis] = -1
    img = img * gain.reshape(bshape)
    sigma = (lv["active"] - lv["pore"]) / cnr
    img = img + rng.normal(0.0, sigma, shape).astype(np.float32)
    phase = np.where(active, 1, np.where(cbd, 2, 0)).astype(np.uint8)
    particle = np.where(active, label, 0).astype(np.int32)
    coords = {d: (np.arange(n) + 0.5) * v for d, n in zip(("z", "y", "x"), shape)}
    dims = ("z", "y", "x")
    return xr.Dataset(
        {"image": (dims, img, {"units": "1", "long_name": "phantom CT grey value"}),
         "phase": (dims, phase, {"units": "1", "long_name": "true phase code (0 pore, 1 active, 2 carbon-binder)"}),
         "particle": (dims, particle, {"units": "1", "long_name": "true particle id (0 = none)"}),
         "drift_gain": (dims[drift_axis], gain, {"units": "1", "long_name": "true multiplicative drift"})},
        coords=coords,
        attrs={"voxel_size_m": v, "seed": int(seed), "cnr": float(cnr), "drift": float(drift),
               "drift_axis": int(drift_axis), "blur_vox": float(blur_vox), "noise_sigma": float(sigma),
               "level_pore": lv["pore"], "level_carbon_binder": lv["carbon_binder"], "level_active": lv["active"],
               "n_particles": int(particle.max()),
               "active_fraction": float(active.mean()), "carbon_binder_fraction": float(cbd.mean())})


def interior_ids(particle: np.ndarray) -> np.ndarray:
    "Ids of the particles that touch no face of the box."
    n = int(particle.max())
    face = np.zeros(n + 1, bool)
    for ax in range(3):
        for idx in (0, -1):
            face[np.take(particle, idx, axis=ax).ravel()] = True
    ids = np.arange(1, n + 1)
    present = np.bincount(particle.ravel(), minlength=n + 1)[1:] > 0
    return ids[present & ~face[1:]]


def equivalent_diameters_m(particle: np.ndarray, ids: np.ndarray, voxel_size_m: float) -> np.ndarray:
    "Volume-equivalent sphere diameters of the given particle ids."
    counts = np.bincount(particle.ravel(), minlength=int(particle.max()) + 1)
    return (6 * counts[ids] / np.pi) ** (1 / 3) * voxel_size_m


def score(truth: xr.Dataset, phase: np.ndarray, particle: np.ndarray) -> dict:
    """Accuracy of a segmentation against the phantom: fraction errors, interior median
    diameter error and the share of interior truth particles matched at IoU > 0.5."""
    tp, tl = truth["phase"].values, truth["particle"].values
    v = truth.attrs["voxel_size_m"]
    ti = interior_ids(tl)
    si = interior_ids(particle)
    d_true = np.median(equivalent_diameters_m(tl, ti, v))
    d_seg = np.median(equivalent_diameters_m(particle, si, v)) if len(si) else np.nan
    # IoU of each interior truth particle with its best-overlapping segmented particle
    m = tl > 0
    ns = int(particle.max())
    key = tl[m].astype(np.int64) * (ns + 1) + particle[m]
    k, inter = np.unique(key, return_counts=True)
    ia, ib = k // (ns + 1), k % (ns + 1)
    sa = np.bincount(tl.ravel(), minlength=int(tl.max()) + 1)
    sb = np.bincount(particle.ravel(), minlength=ns + 1)
    ok = ib > 0
    iou = inter[ok] / (sa[ia[ok]] + sb[ib[ok]] - inter[ok])
    best = np.zeros(int(tl.max()) + 1)
    np.maximum.at(best, ia[ok], iou)
    return {"active_err": float((phase == 1).mean() - (tp == 1).mean()),
            "cbd_err": float((phase == 2).mean() - (tp == 2).mean()),
            "d50_err": float(d_seg / d_true - 1.0),
            "iou_share": float(np.mean(best[ti] > 0.5)) if len(ti) else np.nan,
            "n_interior": int(len(ti))}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cnr", type=float, default=3.0)
    ap.add_argument("--drift", type=float, default=0.05)
    ap.add_argument("--drift-axis", type=int, default=0)
    ap.add_argument("--blur", type=float, default=1.0)
    ap.add_argument("--out", default=None, help="netCDF file to write (default: print a summary)")
    a = ap.parse_args()
    ph = ct_phantom(a.size, seed=a.seed, cnr=a.cnr, drift=a.drift, drift_axis=a.drift_axis, blur_vox=a.blur)
    print({k: ph.attrs[k] for k in ("n_particles", "active_fraction", "carbon_binder_fraction", "noise_sigma")},
          "interior particles:", len(interior_ids(ph["particle"].values)))
    if a.out:
        ph.to_netcdf(a.out)
