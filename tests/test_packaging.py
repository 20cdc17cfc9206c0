"""The package-dir mapping ships every sub-package: ``pip install .`` must not lose a folder."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_folder_is_listed_for_setuptools():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    expected = set()
    for package, folder in setuptools["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            expected.add(".".join([package, *relative.parts]))
    assert expected == listed


def test_convzoo_is_a_namespace_and_no_bare_top_level_module_is_installed():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not (ROOT / "convzoo" / "__init__.py").exists()
    assert all(name.startswith("convzoo.") for name in setuptools["packages"])
