"""yolo_attn: exact, exportable attention modules for Ultralytics YOLO.

Importing the package registers the modules into Ultralytics' model-YAML parser (idempotent). Installed with pip,
an autoload hook does the same for the stock ``yolo`` command without any import (opt out: YOLO_ATTN_AUTOLOAD=0).
"""

__version__ = "0.1.0"

from yolo_attn.integration import register, registered_names  # noqa: E402

register()

__all__ = ["__version__", "register", "registered_names"]
