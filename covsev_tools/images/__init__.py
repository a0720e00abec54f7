"""Reading chest X-rays (PNG, JPEG, DICOM) into arrays, and display copies for raters."""
from covsev_tools.images.display import save_display_png, to_display_uint8
from covsev_tools.images.reader import read_xray
from covsev_tools.images.xray import DEFAULT_MAX_PIXELS, ImageReadError, XRay

__all__ = ["DEFAULT_MAX_PIXELS", "ImageReadError", "XRay", "read_xray", "save_display_png", "to_display_uint8"]
