"""Not a module of the package: lets ``import leukoscan`` work from the folder that holds this
checkout when the checkout itself is named ``leukoscan`` (a fresh ``git clone``).

From that folder Python finds this directory before the installed package; without this
file it became an empty namespace package and every ``from leukoscan.x import y`` failed.
Here it stands in for the real package: same ``__path__`` lookups (``leukoscan/`` for the
core, this folder for ``detect/``, ``classify/``, ...), same names. Never installed (the
wheel lists its packages explicitly).
"""

from pathlib import Path as _Path

_ROOT = _Path(__file__).resolve().parent
__path__ = [str(_ROOT / "leukoscan"), str(_ROOT)]  # noqa: F811 - a package that redirects
exec(compile((_ROOT / "leukoscan" / "__init__.py").read_text(), str(_ROOT / "leukoscan" / "__init__.py"), "exec"))
