"""The ensemble's charts, PNG files under `<out>/charts/`: per key metric the median line and the p5-p95 band of
each scenario over the years, and the paired employer-cost difference against the baseline (paired band, with
the unpaired band behind it for scale). matplotlib with the Agg backend (no display); an optional extra."""

from __future__ import annotations

from pathlib import Path

CHARTS_EXTRA = "pip install -e '.[charts]'"
KEY_METRICS = {
    "end_headcount": ("Headcount at year end", "people", 1),
    "prorated_payroll": ("Payroll (prorated)", "USD millions", 1e6),
    "employee_contributions": ("Employee contributions", "USD millions", 1e6),
    "employer_cost": ("Employer match + core", "USD millions", 1e6),
    "participation_rate": ("Participation (active employees)", "% of active", 0.01),
}


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw(bands: list[dict], paired: list[dict], folder: Path, baseline: str | None) -> list[Path]:
    """One PNG per key metric, and `paired_employer_cost.png` when there is a baseline; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    scenarios = list(dict.fromkeys(row["scenario"] for row in bands))
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(scenarios)}
    written = []
    for metric, (title, unit, scale) in KEY_METRICS.items():
        fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
        for name in scenarios:
            rows = sorted((r for r in bands if r["scenario"] == name and r["metric"] == metric), key=lambda r: r["year"])
            if not rows:
                continue
            years = [r["year"] for r in rows]
            ax.fill_between(years, [r["p5"] / scale for r in rows], [r["p95"] / scale for r in rows],
                            color=colours[name], alpha=0.18, linewidth=0)
            ax.plot(years, [r["p50"] / scale for r in rows], color=colours[name], marker="o", linewidth=2,
                    label=f"{name} (median, band p5-p95, n={rows[0]['n']})")
        _finish(ax, f"{title} by year: median and p5-p95 over seeds", unit)
        written.append(_save(fig, folder / f"{metric}.png"))
    if baseline and paired:
        fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
        for name in dict.fromkeys(r["scenario"] for r in paired):
            rows = sorted((r for r in paired if r["scenario"] == name and r["metric"] == "employer_cost"),
                          key=lambda r: r["year"])
            years = [r["year"] for r in rows]
            if all(r["unpaired_p5"] is not None for r in rows):
                ax.fill_between(years, [r["unpaired_p5"] / 1e6 for r in rows], [r["unpaired_p95"] / 1e6 for r in rows],
                                color=colours[name], alpha=0.10, hatch="//", edgecolor=colours[name], linewidth=0,
                                label=f"{name}: unpaired p5-p95 (different seeds)")
            ax.fill_between(years, [r["p5"] / 1e6 for r in rows], [r["p95"] / 1e6 for r in rows],
                            color=colours[name], alpha=0.45, linewidth=0, label=f"{name}: paired p5-p95 (same seed)")
            ax.plot(years, [r["p50"] / 1e6 for r in rows], color=colours[name], marker="o", linewidth=2,
                    label=f"{name}: paired median")
        ax.axhline(0, color="black", linewidth=0.8)
        _finish(ax, f"Employer cost (match + core) minus {baseline}, seed by seed", "USD millions")
        written.append(_save(fig, folder / "paired_employer_cost.png"))
    return written


def _finish(ax, title: str, unit: str) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("simulation year")
    ax.set_ylabel(unit)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    tmp = path.with_name(path.stem + ".tmp.png")
    fig.tight_layout()
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path
