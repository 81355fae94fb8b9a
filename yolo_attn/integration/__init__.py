"""The Ultralytics integration: the one place that touches Ultralytics internals.

- ``parser``: registration into Ultralytics' model-YAML parser (names, channel injection, row checks, self-test);
- ``internals``: every other Ultralytics internal the package uses (checkpoints, model dicts, dataset checks, the
  ``yolo`` entry point), behind a small API;
- ``errors``: the integration's exceptions.

When a new Ultralytics release breaks something, these files are where to look. Importing this package imports no
Ultralytics; ``register()`` does, once.
"""

from yolo_attn.integration.errors import UltralyticsCompatibilityError, UnknownModuleError, YamlModuleError
from yolo_attn.integration.parser import (
    SUPPORTED_ULTRALYTICS,
    YAML_MODULES,
    YamlModule,
    is_registered,
    register,
    registered_names,
    unregister,
)

__all__ = [
    "SUPPORTED_ULTRALYTICS",
    "YAML_MODULES",
    "UltralyticsCompatibilityError",
    "UnknownModuleError",
    "YamlModule",
    "YamlModuleError",
    "is_registered",
    "register",
    "registered_names",
    "unregister",
]
