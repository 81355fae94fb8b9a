"""Hatch build hook: the model and dataset YAMLs go into wheels, not into editable installs.

A wheel carries the repository's ``cfg/models`` and ``cfg/datasets`` as ``yolo_attn/cfg/...`` (pyproject's
force-include), where ``yolo_attn.integration.lookup`` finds them by name. An editable install reads ``cfg/`` from
the checkout itself, so a copy in site-packages would only go stale: for editable builds, force-include keeps just
the autoload hook's files.
"""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED_CFG = "yolo_attn/cfg/"


class CustomBuildHook(BuildHookInterface):
    """Editable builds: force-include everything except the shipped YAML folders."""

    def initialize(self, version: str, build_data: dict) -> None:
        if version == "editable":
            build_data["force_include_editable"] = {
                src: dst for src, dst in self.build_config.force_include.items() if not dst.startswith(SHIPPED_CFG)
            }
