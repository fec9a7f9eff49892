"""Packaging only what pyproject.toml cannot say: the repository's top-level `task_defs/` folder ships inside
the package as `t5eval/task_defs/` (package data), so a built wheel or `pip install .` finds the task, benchmark,
paper-score, head and study definitions (`t5eval.tasks.defs`). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["t5eval", "t5eval.*"]), "t5eval.task_defs"],
    package_dir={"t5eval.task_defs": "task_defs"},
    package_data={"t5eval.task_defs": ["*.yaml", "**/*.yaml"]},
)
