"""Microstructural design of lithium-ion battery electrodes: GITT processing, voxel microstructures, FiPy electrochemistry, Zarr + intake results

Conventions used throughout the package:

- SI units inside (m, s, A, V, mol/m^3, K). Other units (mAh, µm, °C) only at input and
  output, and then the unit is in the name (``capacity_mAh``, ``thickness_um``).
- Current sign: ``current_A > 0`` is *discharge* of the half-cell, i.e. lithiation of the
  positive (working) electrode. Cycler files that record discharge as negative current are
  converted on reading.
- State of lithiation ``sol = c_s / c_s,max`` (0..1). Depth of discharge is the fraction of
  the discharge capacity passed.
- Voxel images are ``(z, y, x)``; ``z`` is through the thickness, ``z = 0`` at the current
  collector, the separator at the top. Phase codes: 0 non-solid domain (pore + carbon-binder
  lumped), 1 active material, 2 carbon-binder where resolved. Particle ids are int32, 0 = none.
- Every result is an ``xarray.Dataset`` whose variables carry ``units`` and ``long_name``
  attributes and whose ``attrs["kind"]`` is one of gitt, microstructure, simulation,
  analysis, study.

Pipeline stages and their modules (source notebook in ``nbs/``):

- ``conventions`` (``00_conventions``): the package's errors, value checks, Dataset schema, logging and progress bars.
- ``numerics`` (``00_numerics``): the shared numerical core: voxel face geometry, fixed-pattern sparse assembly, Butler–Volmer (anodic positive), block multigrid, V-cycle and flexible GMRES.
- ``params`` (``00_params``): validated, frozen SI parameter sets (NMC811 Chen2020, Valøen–Reimers electrolyte); YAML, PyBaMM and BPX conversion.
- ``store`` (``01_store``): results as Zarr stores in an intake catalog; save atomically, list, open lazily, remove.
- ``gitt`` (``02_gitt``): cycler files → pulses → OCV(SoL) and solid diffusivity Ds(SoL) with uncertainties.
- ``microstructure`` (``03_microstructure``): generated electrodes, CT import and segmentation, characterisation.
- ``particle`` (``04_particle``): particle-scale discharge (1D sphere, 2D sections, 3D voxel particles with grain tensors).
- ``gpnp`` (``05_gpnp``, subpackage): the microstructure-resolved half-cell (generalised Poisson–Nernst–Planck) on the voxel image: ``geometry``, ``cost``, ``physics``, ``linalg``, ``newton``, ``protocol``, ``timeloop``, ``output`` (``05b``–``05i``) and ``fipy_backend``, the model stated in FiPy terms (``05a``).
- ``analysis`` (``06_analysis``): 3D vs P2D (PyBaMM DFN twins) and through-thickness metrics.
- ``explore`` (``07_explore``): JupyterLab widgets over the catalog and static HTML reports.
- ``study`` (``08_study``): design studies (sweeps of electrodes × parameters × protocols) on Dask.
- ``cli`` (``09_cli``): the ``electrode-design`` command: demo, gitt, generate, segment, characterise, simulate, study, catalog, explore, report, params.

The modules are exported from the notebooks in ``nbs/`` (nbdev); edit those, not the modules.

Modules:

- `electrode_design.gitt`: Read a galvanostatic intermittent titration test, find its pulses, and turn them into the material tables of the pipeline: the relaxed open-circuit voltage and the solid-state diffusivity as functions of the state of lithiation, with uncertainties."""

__version__ = "0.1.0"
