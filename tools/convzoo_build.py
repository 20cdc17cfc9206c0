"""The build backend: setuptools' own (``setuptools.build_meta``), minus its information-only notice.

convzoo maps each folder to a ``convzoo.<folder>`` package (``[tool.setuptools] package-dir``),
so an editable install needs setuptools' import finder, and setuptools then emits an
``InformationOnly`` warning ("Editable installation. Please be careful with folders in your
working directory with the same name as your package"), which pip prints as a warning on every
``pip install -e``. No folder here is named like the package (``convzoo``), so the notice never
applies; it is silenced, and only it: deprecations and real warnings still show.
"""

import warnings

from setuptools.build_meta import *  # noqa: F403 (the PEP 517/660 hooks, unchanged)
from setuptools.warnings import InformationOnly

warnings.filterwarnings("ignore", category=InformationOnly)
