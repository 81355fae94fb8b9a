"""yolo_attn: exact, exportable attention modules for Ultralytics YOLO.

Importing the package imports no Ultralytics. It registers the modules into Ultralytics' model-YAML parser once,
right after ``ultralytics.nn.tasks`` is imported (or at once, when it already is): YAMLs naming ``MLCA`` and the
other modules then build. Installed with pip, a start-up hook does the same for the stock ``yolo`` command without
any import (opt out: YOLO_ATTN_AUTOLOAD=0; an explicit ``import yolo_attn`` registers regardless). A failure to
register there is a warning; ``yolo_attn.register()`` registers at once and raises it.
"""

__version__ = "0.1.0"

try:  # a source checkout (editable install, PYTHONPATH): the hook's source beside this file
    from yolo_attn._autoload import install as _install_autoload  # noqa: E402
except ImportError:  # an installed wheel carries the hook only as the top-level module the start-up file runs
    from _yolo_attn_autoload import install as _install_autoload  # noqa: E402
from yolo_attn.integration import register, registered_names  # noqa: E402

_install_autoload(force=True)

__all__ = ["__version__", "register", "registered_names"]
