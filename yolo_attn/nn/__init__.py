"""Attention modules, one file per module (timm style)."""
