"""Shared test setup: a headless matplotlib backend and offline Hugging Face."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

# Notebooks under tests/ are fixtures (e.g. deliberately broken submissions), not chapters:
# nbval must not execute them.
collect_ignore_glob = ["**/*.ipynb"]

# Hypothesis draws the same examples on every run and prints the blob that replays a failure,
# so a red test on one machine is red on every machine.
from hypothesis import settings  # noqa: E402

settings.register_profile("aibook", derandomize=True, print_blob=True)
settings.load_profile("aibook")
