"""Autoload hook: register yolo_attn when Ultralytics' model parser is imported, with no import by the user.

Installed twice: inside the package (for reference) and as the top-level module ``_yolo_attn_autoload`` that
``yolo_attn_autoload.pth`` (and, on Python 3.15+, ``yolo_attn_autoload.start``) runs at interpreter start-up.
At start-up it only puts a finder on ``sys.meta_path`` (stdlib only, well under a millisecond). When
``ultralytics.nn.tasks`` is imported, the finder wraps its loader so that, right after the module has executed,
``yolo_attn.register()`` runs. Nothing here may raise: a failure is reported as a warning and the import of
Ultralytics goes on untouched. Opt out with ``YOLO_ATTN_AUTOLOAD=0``.
"""

import os
import sys

TARGET = "ultralytics.nn.tasks"
ENV_OPT_OUT = "YOLO_ATTN_AUTOLOAD"


def _register():
    try:
        import yolo_attn.integration

        yolo_attn.integration.register()
    except Exception as e:  # never break the user's import of Ultralytics
        import warnings

        warnings.warn(
            f"yolo_attn autoload: registration failed ({type(e).__name__}: {e})", RuntimeWarning, stacklevel=2
        )


class _Loader:
    """Delegating loader: runs the real loader, then registers yolo_attn."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register()

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _Finder:
    """Meta-path finder that only acts on ``ultralytics.nn.tasks``, once."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != TARGET:
            return None
        try:
            sys.meta_path.remove(cls)  # one shot, and lets the lookup below skip us
        except ValueError:
            pass
        try:
            for finder in sys.meta_path:
                find_spec = getattr(finder, "find_spec", None)
                spec = find_spec(name, path, target) if find_spec else None
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader)
                    return spec
        except Exception:
            return None
        return None


def install(force: bool = False) -> None:
    """Register yolo_attn now if Ultralytics' parser is imported, else put the finder on ``sys.meta_path``.

    Args:
        force (bool): Ignore the ``YOLO_ATTN_AUTOLOAD=0`` opt-out (``import yolo_attn`` asks for registration).
    """
    try:
        if not force and os.environ.get(ENV_OPT_OUT, "1").strip().lower() in {"0", "false", "no", "off"}:
            return
        if TARGET in sys.modules:
            _register()
        elif _Finder not in sys.meta_path:
            sys.meta_path.insert(0, _Finder)
    except Exception:
        pass
