"""mpx_eval: cross-validated evaluation and reporting for small Keras image classifiers.

Importing the package is cheap: TensorFlow/Keras load only when a model is built or trained.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

#: Modules that were documented at the top of the package and now live in its layers; the
#: old names still import, with a DeprecationWarning that names the new place.
MOVED_MODULES = {
    "mpx_eval.predict": "mpx_eval.training.predict",
    "mpx_eval.gradcam": "mpx_eval.training.gradcam",
    "mpx_eval.families": "mpx_eval.data.families",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a moved module's old name as the module in its new place."""

    def find_spec(self, name, path=None, target=None):
        if name in MOVED_MODULES:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        new = MOVED_MODULES[spec.name]
        warnings.warn(
            f"{spec.name} has moved to {new}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module):
        """The module in its new place is already executed."""


def lazy_exports(package: str, exports: dict[str, str]):
    """``__all__`` and a module ``__getattr__`` for a layer's package: its public names, each
    imported from its module (``exports``: name -> relative module) on first use, so that
    importing one module of a layer costs no more than that module."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(exports), __getattr__


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
