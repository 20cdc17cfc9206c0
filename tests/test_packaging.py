"""The package-dir mapping ships every sub-package and its data: ``pip install .`` must not lose
a folder or a table, and a clean install or wheel build prints no warning."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = {".tsv", ".txt", ".json"}


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


# Building: each test builds from a copy of the tree (so no build/ or egg-info lands in the
# checkout) with this environment's pip, as `make setup` and a user do; pip's own version
# check is off so that only the build speaks.
WARNING = re.compile(r"warning|deprecat", re.IGNORECASE)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of what a build reads: pyproject.toml, README.md, MANIFEST.in, tools/ and every package folder."""
    copy = tmp_path_factory.mktemp("source")
    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy2(ROOT / name, copy / name)
    for folder in sorted(folders | {"tools"}):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def pip(*args: str) -> str:
    """Run this environment's pip; its combined output, once checked to be free of warnings."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert not WARNING.search(output), output
    return output


@pytest.mark.slow
def test_the_wheel_holds_the_data_and_proto_files_and_builds_without_warnings(source, tmp_path):
    pip("wheel", "--no-deps", "--wheel-dir", str(tmp_path), str(source))
    (wheel,) = tmp_path.glob("convzoo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"convzoo/base/data/{p.name}" for p in (ROOT / "base" / "data").iterdir() if p.suffix in DATA_SUFFIXES}
    shipped |= {f"convzoo/proto/{p.name}" for p in (ROOT / "proto").glob("*.proto")}
    assert len(shipped) >= 6  # three ImageNet tables, three .proto files
    assert shipped <= names, shipped - names
    assert not [name for name in names if name.startswith(("tools/", "convzoo_build"))]


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_a_clean_install_prints_no_warnings(source, tmp_path, editable):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip("--python", str(python), "install", "--no-deps", *(["-e"] if editable else []), str(source))
    locate = "import importlib.util as u; print(u.find_spec('convzoo.base.data').submodule_search_locations[0])"
    found = subprocess.run([str(python), "-c", locate], capture_output=True, text=True, check=True).stdout.strip()
    data = Path(found)
    assert (data / "imagenet1k_classes.tsv").is_file()
    assert data.resolve() == (source / "base" / "data").resolve() if editable else venv in data.parents
