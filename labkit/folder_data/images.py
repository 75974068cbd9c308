"""Image files as the 8-bit RGB picture an image viewer shows: :func:`open_rgb` and :func:`to_rgb`.

PIL's ``convert("RGB")`` is right for 8-bit images only: it clips 16-bit grayscale ("I;16", "I")
to 255, so every pixel >= 1 of a 16-bit PNG turns white, and float images ("F") to 0/1, so they
turn black. Here each mode is brought to 8 bits by its range first:

- "I;16*" (16-bit PNG/TIFF): ``value >> 8`` (the top 8 bits: 65535 -> 255), what a viewer shows;
- "I" (32-bit integers): as 16-bit when the values fit 0..65535 (16-bit PNG/PGM files open as
  "I"), else scaled from the image's min..max;
- "F" (floats): values in [0, 1] times 255, values in [0, 255] as they are, else min..max;
- alpha ("RGBA", "LA", "PA", a palette or grayscale with a transparent colour): composited over
  white, as a viewer's page shows it; converting would keep whatever colour hides under alpha 0;
- the EXIF orientation of photos is applied (a viewer rotates them; PIL does not);
- "P", "L", "1", "CMYK", "YCbCr": PIL's conversion (that is what viewers show without colour
  management).
"""
import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp", ".webp")
BACKGROUND = (255, 255, 255)  # under transparent pixels: white, as a viewer's page
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
ORIENTATION = 0x0112  # the EXIF tag of the camera's rotation


def _stretch(a):
    """``a`` scaled from its min..max to 0..255 (a constant image: 0)."""
    lo, hi = float(a.min()), float(a.max())
    return np.zeros(a.shape) if hi <= lo else (a - lo) * (255.0 / (hi - lo))


def gray8(img):
    """The uint8 (H, W) array of a 16-bit, 32-bit integer or float grayscale image (see the module)."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        return (a.astype(np.uint16) >> 8).astype(np.uint8)
    if img.mode == "I":
        if a.size and a.min() >= 0 and a.max() <= 65535:
            return (a >> 8).astype(np.uint8)
        return np.round(_stretch(a.astype(np.float64))).astype(np.uint8)
    a = np.nan_to_num(a.astype(np.float64))  # "F"
    if a.size and a.min() >= 0 and a.max() <= 1:
        a = a * 255.0
    elif not (a.size and a.min() >= 0 and a.max() <= 255):
        a = _stretch(a)
    return np.round(a).clip(0, 255).astype(np.uint8)


def to_rgb(img):
    """``img`` (any PIL mode) as the 8-bit RGB image a viewer shows (see the module)."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        return Image.fromarray(gray8(img), "L").convert("RGB")
    if img.mode in ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        page = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(page, rgba).convert("RGB")
    return img.convert("RGB")


def open_rgb(path, draft_side=None):
    """The image file ``path`` as a loaded RGB PIL image (the file closed again). ``draft_side``: a
    JPEG is decoded at a reduced scale (DCT scaling) no smaller than that, which is much faster."""
    with Image.open(path) as img:
        if draft_side and img.format == "JPEG":
            img.draft("RGB", (draft_side, draft_side))
        img.load()  # decode now: a truncated file fails here, inside the with
        orientation = img.getexif().get(ORIENTATION, 1)
        if orientation != 1:
            img = ImageOps.exif_transpose(img)
        return to_rgb(img)  # loaded: usable after the file is closed
