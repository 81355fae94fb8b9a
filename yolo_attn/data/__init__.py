"""Datasets: Pascal VOC preparation (`voc`) and the generated VOC-format sample (`sample`)."""

from yolo_attn.data.sample import SAMPLE_CLASSES, make_sample_dataset
from yolo_attn.data.voc import VOC_CLASSES, BadVOCInput, PrepareResult, is_prepared, prepare_voc

__all__ = [
    "SAMPLE_CLASSES",
    "VOC_CLASSES",
    "BadVOCInput",
    "PrepareResult",
    "is_prepared",
    "make_sample_dataset",
    "prepare_voc",
]
