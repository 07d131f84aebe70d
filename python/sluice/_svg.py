"""matplotlib for the tools' SVG figures: no display, the same bytes for
the same figure (no date, a fixed hash salt), text kept as text (small
files)."""


def pyplot():
    """(matplotlib, matplotlib.pyplot), set up for SVG files."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "sluice"
    matplotlib.rcParams["svg.fonttype"] = "none"
    return matplotlib, plt


def save(fig, path):
    """Write fig as SVG to path and free it."""
    _, plt = pyplot()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
