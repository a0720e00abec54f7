"""Reading chest X-rays (PNG, JPEG, DICOM) into arrays, and display copies for raters."""
from covsev_tools.images.reader import ImageReadError, XRay, read_xray, save_display_png, to_display_uint8

__all__ = ["ImageReadError", "XRay", "read_xray", "save_display_png", "to_display_uint8"]
