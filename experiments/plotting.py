"""Shared look of the experiment figures: the Okabe-Ito colour-blind-safe palette, one style, one save."""
import matplotlib

matplotlib.use("Agg")  # files only: the experiments run headless
import matplotlib.pyplot as plt  # noqa: E402

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies
OKABE_ITO = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000",
}
PALETTE = [OKABE_ITO[name] for name in ("blue", "orange", "green", "vermillion", "purple", "sky", "black")]


def style():
    plt.rcParams.update({
        "axes.prop_cycle": plt.cycler(color=PALETTE), "axes.grid": True, "grid.alpha": 0.3,
        "figure.dpi": 100, "savefig.dpi": 120, "font.size": 10, "axes.titlesize": 11, "legend.fontsize": 9,
    })


def save(fig, path):
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
