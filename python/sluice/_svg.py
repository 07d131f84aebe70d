"""The tools' output files: matplotlib for their SVG figures (no display,
the same bytes for the same figure: no date, a fixed hash salt; text kept as
text: small files), and one folder of STEM.json, STEM.csv, STEM.svg."""
import os


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


def write_files(result, out, stem, json_fn, csv_fn, svg_fn):
    """out/stem.json, .csv and .svg, each written by its function(result,
    path); their paths."""
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, stem + "." + e) for e in ("json", "csv", "svg")]
    for fn, path in zip((json_fn, csv_fn, svg_fn), paths):
        fn(result, path)
    return paths
