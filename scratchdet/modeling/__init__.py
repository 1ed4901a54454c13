"""Models; importing this module registers them in detectron2's registries."""

from . import backbone, meta_arch
