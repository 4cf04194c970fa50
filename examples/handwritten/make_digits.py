"""Draw the test digits in this folder: handwriting-like glyphs (the Humor Sans font, thick
strokes), off-centre, slightly rotated, dark ink on white paper, at sizes unlike MNIST's.

    python examples/handwritten/make_digits.py   # font: apt-get install fonts-humor-sans

These are *not* MNIST images: they test the whole path a user's own picture takes
(``convnet predict`` -> convnet.preprocessing.prepare_digit -> the trained model).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patheffects as pe  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

FONT = "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf"
HERE = Path(__file__).parent
# (digit, x, y, rotation, size, width_px, height_px): positions off-centre on purpose
LAYOUT = [(0, 0.35, 0.45, 8, 150, 220, 260), (1, 0.62, 0.55, -6, 160, 240, 240),
          (2, 0.40, 0.40, 5, 140, 300, 220), (3, 0.55, 0.60, -4, 150, 200, 280),
          (4, 0.45, 0.50, 10, 150, 260, 260), (5, 0.60, 0.42, -8, 150, 240, 300),
          (6, 0.38, 0.58, 6, 145, 280, 250), (7, 0.55, 0.45, -10, 155, 230, 230),
          (8, 0.50, 0.40, 4, 150, 250, 320), (9, 0.42, 0.55, -5, 150, 260, 240)]


def main() -> None:
    prop = font_manager.FontProperties(fname=FONT)
    for digit, x, y, rotation, size, w, h in LAYOUT:
        fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
        fig.patch.set_facecolor("white")
        fig.text(x, y, str(digit), fontproperties=prop, fontsize=size * h / 300, ha="center",
                 va="center", rotation=rotation, color="#202020",
                 path_effects=[pe.withStroke(linewidth=6, foreground="#202020")])
        fig.savefig(HERE / f"digit_{digit}.png", facecolor="white")
        plt.close(fig)
    print(f"wrote {len(LAYOUT)} digits to {HERE}")


if __name__ == "__main__":
    main()
