"""Colour science for the properties analyser: sRGB <-> CIELAB, CIEDE2000, and colour names.

Every dominant colour gets two names, both by the nearest colour in CIEDE2000 (the CIE's perceptual colour
difference):

- ``CSSColor``: the nearest of the CSS3 named colours (138 distinct colours; of the duplicate spellings
  ``gray``/``grey``, ``cyan``/``aqua`` and ``magenta``/``fuchsia`` the first is used).
- ``SimplifiedColor``: one of twelve names (Rekognition also has twelve): the eleven basic colour terms of
  Berlin and Kay (red, orange, yellow, green, blue, purple, pink, brown, black, white, gray) and ``teal``
  for the blue-greens (cyan, turquoise, teal) that people do not agree to call green or blue. It is the
  simplified name of the nearest of the CSS colours and a few extra reference colours (dark browns, dark and
  muted tones that CSS lacks), each hand-assigned to one of the twelve in :data:`CSS_COLORS` and
  :data:`EXTRA_REFERENCES`; so ``royalblue`` is blue, ``saddlebrown`` brown, ``darkolivegreen`` green.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

SIMPLIFIED_COLORS: Final = (
    "red",
    "orange",
    "yellow",
    "green",
    "teal",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "gray",
)

# name -> (red, green, blue, simplified colour)
CSS_COLORS: Final[dict[str, tuple[int, int, int, str]]] = {
    "aliceblue": (240, 248, 255, "white"),
    "antiquewhite": (250, 235, 215, "white"),
    "aquamarine": (127, 255, 212, "teal"),
    "azure": (240, 255, 255, "white"),
    "beige": (245, 245, 220, "white"),
    "bisque": (255, 228, 196, "orange"),
    "black": (0, 0, 0, "black"),
    "blanchedalmond": (255, 235, 205, "white"),
    "blue": (0, 0, 255, "blue"),
    "blueviolet": (138, 43, 226, "purple"),
    "brown": (165, 42, 42, "red"),
    "burlywood": (222, 184, 135, "brown"),
    "cadetblue": (95, 158, 160, "teal"),
    "chartreuse": (127, 255, 0, "green"),
    "chocolate": (210, 105, 30, "brown"),
    "coral": (255, 127, 80, "orange"),
    "cornflowerblue": (100, 149, 237, "blue"),
    "cornsilk": (255, 248, 220, "white"),
    "crimson": (220, 20, 60, "red"),
    "cyan": (0, 255, 255, "teal"),
    "darkblue": (0, 0, 139, "blue"),
    "darkcyan": (0, 139, 139, "teal"),
    "darkgoldenrod": (184, 134, 11, "yellow"),
    "darkgray": (169, 169, 169, "gray"),
    "darkgreen": (0, 100, 0, "green"),
    "darkkhaki": (189, 183, 107, "yellow"),
    "darkmagenta": (139, 0, 139, "purple"),
    "darkolivegreen": (85, 107, 47, "green"),
    "darkorange": (255, 140, 0, "orange"),
    "darkorchid": (153, 50, 204, "purple"),
    "darkred": (139, 0, 0, "red"),
    "darksalmon": (233, 150, 122, "orange"),
    "darkseagreen": (143, 188, 143, "green"),
    "darkslateblue": (72, 61, 139, "purple"),
    "darkslategray": (47, 79, 79, "gray"),
    "darkturquoise": (0, 206, 209, "teal"),
    "darkviolet": (148, 0, 211, "purple"),
    "deeppink": (255, 20, 147, "pink"),
    "deepskyblue": (0, 191, 255, "blue"),
    "dimgray": (105, 105, 105, "gray"),
    "dodgerblue": (30, 144, 255, "blue"),
    "firebrick": (178, 34, 34, "red"),
    "floralwhite": (255, 250, 240, "white"),
    "forestgreen": (34, 139, 34, "green"),
    "gainsboro": (220, 220, 220, "white"),
    "ghostwhite": (248, 248, 255, "white"),
    "gold": (255, 215, 0, "yellow"),
    "goldenrod": (218, 165, 32, "yellow"),
    "gray": (128, 128, 128, "gray"),
    "green": (0, 128, 0, "green"),
    "greenyellow": (173, 255, 47, "green"),
    "honeydew": (240, 255, 240, "white"),
    "hotpink": (255, 105, 180, "pink"),
    "indianred": (205, 92, 92, "red"),
    "indigo": (75, 0, 130, "purple"),
    "ivory": (255, 255, 240, "white"),
    "khaki": (240, 230, 140, "yellow"),
    "lavender": (230, 230, 250, "white"),
    "lavenderblush": (255, 240, 245, "white"),
    "lawngreen": (124, 252, 0, "green"),
    "lemonchiffon": (255, 250, 205, "white"),
    "lightblue": (173, 216, 230, "blue"),
    "lightcoral": (240, 128, 128, "pink"),
    "lightcyan": (224, 255, 255, "white"),
    "lightgoldenrodyellow": (250, 250, 210, "white"),
    "lightgray": (211, 211, 211, "gray"),
    "lightgreen": (144, 238, 144, "green"),
    "lightpink": (255, 182, 193, "pink"),
    "lightsalmon": (255, 160, 122, "orange"),
    "lightseagreen": (32, 178, 170, "teal"),
    "lightskyblue": (135, 206, 250, "blue"),
    "lightslategray": (119, 136, 153, "gray"),
    "lightsteelblue": (176, 196, 222, "blue"),
    "lightyellow": (255, 255, 224, "white"),
    "lime": (0, 255, 0, "green"),
    "limegreen": (50, 205, 50, "green"),
    "linen": (250, 240, 230, "white"),
    "magenta": (255, 0, 255, "purple"),
    "maroon": (128, 0, 0, "red"),
    "mediumaquamarine": (102, 205, 170, "teal"),
    "mediumblue": (0, 0, 205, "blue"),
    "mediumorchid": (186, 85, 211, "purple"),
    "mediumpurple": (147, 112, 219, "purple"),
    "mediumseagreen": (60, 179, 113, "green"),
    "mediumslateblue": (123, 104, 238, "purple"),
    "mediumspringgreen": (0, 250, 154, "green"),
    "mediumturquoise": (72, 209, 204, "teal"),
    "mediumvioletred": (199, 21, 133, "pink"),
    "midnightblue": (25, 25, 112, "blue"),
    "mintcream": (245, 255, 250, "white"),
    "mistyrose": (255, 228, 225, "white"),
    "moccasin": (255, 228, 181, "orange"),
    "navajowhite": (255, 222, 173, "orange"),
    "navy": (0, 0, 128, "blue"),
    "oldlace": (253, 245, 230, "white"),
    "olive": (128, 128, 0, "green"),
    "olivedrab": (107, 142, 35, "green"),
    "orange": (255, 165, 0, "orange"),
    "orangered": (255, 69, 0, "orange"),
    "orchid": (218, 112, 214, "purple"),
    "palegoldenrod": (238, 232, 170, "yellow"),
    "palegreen": (152, 251, 152, "green"),
    "paleturquoise": (175, 238, 238, "teal"),
    "palevioletred": (219, 112, 147, "pink"),
    "papayawhip": (255, 239, 213, "white"),
    "peachpuff": (255, 218, 185, "orange"),
    "peru": (205, 133, 63, "brown"),
    "pink": (255, 192, 203, "pink"),
    "plum": (221, 160, 221, "purple"),
    "powderblue": (176, 224, 230, "blue"),
    "purple": (128, 0, 128, "purple"),
    "red": (255, 0, 0, "red"),
    "rosybrown": (188, 143, 143, "pink"),
    "royalblue": (65, 105, 225, "blue"),
    "saddlebrown": (139, 69, 19, "brown"),
    "salmon": (250, 128, 114, "orange"),
    "sandybrown": (244, 164, 96, "orange"),
    "seagreen": (46, 139, 87, "green"),
    "seashell": (255, 245, 238, "white"),
    "sienna": (160, 82, 45, "brown"),
    "silver": (192, 192, 192, "gray"),
    "skyblue": (135, 206, 235, "blue"),
    "slateblue": (106, 90, 205, "purple"),
    "slategray": (112, 128, 144, "gray"),
    "snow": (255, 250, 250, "white"),
    "springgreen": (0, 255, 127, "green"),
    "steelblue": (70, 130, 180, "blue"),
    "tan": (210, 180, 140, "brown"),
    "teal": (0, 128, 128, "teal"),
    "thistle": (216, 191, 216, "purple"),
    "tomato": (255, 99, 71, "red"),
    "turquoise": (64, 224, 208, "teal"),
    "violet": (238, 130, 238, "purple"),
    "wheat": (245, 222, 179, "brown"),
    "white": (255, 255, 255, "white"),
    "whitesmoke": (245, 245, 245, "white"),
    "yellow": (255, 255, 0, "yellow"),
    "yellowgreen": (154, 205, 50, "green"),
}

# Reference colours for SimplifiedColor only, where the CSS colours are sparse: the dark and muted tones
# that fill photographs (fur, wood, soil, shade, foliage, night sky) would otherwise go to a far CSS colour.
EXTRA_REFERENCES: Final[tuple[tuple[int, int, int, str], ...]] = (
    (101, 67, 33, "brown"),  # dark brown
    (74, 50, 32, "brown"),  # very dark brown
    (123, 92, 62, "brown"),  # medium brown (fur, wood)
    (150, 116, 84, "brown"),  # light muted brown
    (110, 90, 70, "brown"),  # grey-brown
    (170, 150, 105, "brown"),  # khaki, dry grass
    (60, 40, 30, "brown"),  # near-black brown
    (45, 60, 30, "green"),  # dark foliage
    (70, 90, 50, "green"),  # shaded grass
    (100, 120, 70, "green"),  # muted grass
    (30, 30, 30, "black"),  # near black
    (50, 50, 55, "gray"),  # charcoal
    (20, 30, 60, "blue"),  # night blue
    (90, 110, 140, "blue"),  # muted sky, denim
    (110, 30, 30, "red"),  # dark red
    (80, 40, 80, "purple"),  # dark purple
)


def srgb_to_lab(rgb: FloatArray) -> FloatArray:
    """CIELAB (D65) of sRGB values 0-255, shape ``(..., 3)``."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), xyz * (_KAPPA / 116.0) + 16.0 / 116.0)
    lab: FloatArray = np.empty_like(f, dtype=np.float64)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_srgb(lab: FloatArray) -> FloatArray:
    """sRGB values 0-255 (float, clipped to the gamut) of CIELAB (D65) values, shape ``(..., 3)``."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f**3 > _EPSILON, f**3, (116.0 * f - 16.0) / _KAPPA) * _WHITE
    linear = np.clip(xyz @ _XYZ_TO_RGB.T, 0.0, 1.0)
    c = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    result: FloatArray = np.clip(c * 255.0, 0.0, 255.0)
    return result


def delta_e2000(lab1: FloatArray, lab2: FloatArray) -> FloatArray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) between broadcastable arrays of CIELAB values."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    c_bar7 = c_bar**7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = a1 * (1.0 + g), a2 * (1.0 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    both = (c1p * c2p) != 0.0

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(both, dh, 0.0)
    dhh = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_bar = (l1 + l2) / 2.0
    cp_bar = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180.0, h_sum / 2.0, np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0)
    )
    h_bar = np.where(both, h_bar, h_sum)
    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    cp_bar7 = cp_bar**7
    r_c = 2.0 * np.sqrt(cp_bar7 / (cp_bar7 + 25.0**7))
    l_term = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l_term / np.sqrt(20.0 + l_term)
    s_c = 1.0 + 0.045 * cp_bar
    s_h = 1.0 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    result: FloatArray = np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dhh / s_h) ** 2 + r_t * (dc / s_c) * (dhh / s_h))
    return result


def css_name(lab: FloatArray) -> list[str]:
    """The nearest CSS3 colour name of each CIELAB colour, shape ``(n, 3)``."""
    distances = delta_e2000(np.asarray(lab)[:, None, :], _CSS_LAB[None, :, :])
    return [_CSS_NAMES[i] for i in np.argmin(distances, axis=1)]


def simplified_name(lab: FloatArray) -> list[str]:
    """The simplified colour (one of :data:`SIMPLIFIED_COLORS`) of each CIELAB colour, shape ``(n, 3)``."""
    distances = delta_e2000(np.asarray(lab)[:, None, :], _REFERENCE_LAB[None, :, :])
    return [_REFERENCE_NAMES[i] for i in np.argmin(distances, axis=1)]


# sRGB primaries, D65 white (IEC 61966-2-1)
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPSILON = 216.0 / 24389.0
_KAPPA = 24389.0 / 27.0

_CSS_NAMES = list(CSS_COLORS)
_CSS_LAB = srgb_to_lab(np.array([value[:3] for value in CSS_COLORS.values()], dtype=np.float64))
_REFERENCE_NAMES = [value[3] for value in CSS_COLORS.values()] + [value[3] for value in EXTRA_REFERENCES]
_REFERENCE_LAB = np.concatenate([_CSS_LAB, srgb_to_lab(np.array([value[:3] for value in EXTRA_REFERENCES], float))])
