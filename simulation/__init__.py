"""The simulation engine: fabricated users, hidden tastes, viewing sessions and ratings.

    from simulation import simulate
    report = simulate(users=10_000, seed=1)            # into the warehouse, via python_api
    print(report.describe())

    from simulation import generate_population, catalogue_from_frames, load_config
    population = generate_population(1_000, seed=1, catalogue=catalogue)   # pure DataFrames

With ``releases.rate`` > 0 the simulation also releases new titles over the period
(sim.titles and sim.credits: :mod:`simulation.releases`), which users discover after
their release (:mod:`simulation.discovery`).

The ground truth (each user's genre affinities and popularity bias) lands in
``sim.user_tastes``; :func:`oracle_scores` / :func:`user_title_utility`
compute the hidden utility that drove every choice, and :class:`TasteOracle`
ranks titles by it for ``recdb evaluate``.
Knobs: ``simulation/simulation.toml`` (documented there), or a TOML file of
your own passed as ``config``.
"""

from __future__ import annotations

from simulation.catalogue import Catalogue, catalogue_from_frames, read_catalogue
from simulation.config import SimulationConfig, default_config_text, load_config
from simulation.engine import Population, SimulationReport, generate_population, simulate
from simulation.errors import IdOverflowError, SimulationConfigError, SimulationError
from simulation.oracle import TasteOracle, scoring_catalogue
from simulation.releases import (
    CatalogueMix,
    NewTitles,
    Releases,
    generate_titles,
    mix_from_frames,
    read_catalogue_mix,
    release_count,
    release_stream,
    releases_from_titles,
)
from simulation.tastes import oracle_scores, oracle_top_n, user_title_utility

__all__ = [
    "Catalogue",
    "CatalogueMix",
    "IdOverflowError",
    "NewTitles",
    "Population",
    "Releases",
    "SimulationConfig",
    "SimulationConfigError",
    "SimulationError",
    "SimulationReport",
    "TasteOracle",
    "catalogue_from_frames",
    "default_config_text",
    "generate_population",
    "generate_titles",
    "load_config",
    "mix_from_frames",
    "oracle_scores",
    "oracle_top_n",
    "read_catalogue",
    "read_catalogue_mix",
    "release_count",
    "release_stream",
    "releases_from_titles",
    "scoring_catalogue",
    "simulate",
    "user_title_utility",
]
