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
    "net_employer_cost": ("Net employer cost (match + core - forfeitures used)", "USD millions", 1e6),
    "participation_rate": ("Participation (active employees)", "% of active", 0.01),
}


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw(bands: list[dict], paired: list[dict], folder: Path, baseline: str | None) -> list[Path]:
    """One PNG per key metric, and `paired_employer_cost.png` when there is a baseline; returns the files.

    Scenarios that coincide (a design that leaves headcount or pay alone) would hide one another: each scenario
    gets its own line style and the earlier ones are drawn wider, so every line stays visible."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    scenarios = list(dict.fromkeys(row["scenario"] for row in bands))
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(scenarios)}
    styles = {name: ("-", "--", ":", "-.")[i % 4] for i, name in enumerate(scenarios)}
    widths = {name: max(1.2, 5.0 - 1.4 * i) for i, name in enumerate(scenarios)}
    written = []
    for metric, (title, unit, scale) in KEY_METRICS.items():
        fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
        for name in scenarios:
            rows = sorted((r for r in bands if r["scenario"] == name and r["metric"] == metric), key=lambda r: r["year"])
            if not rows:
                continue
            years = [r["year"] for r in rows]
            same = all(r["p5"] == r["p95"] for r in rows)
            ax.fill_between(years, [r["p5"] / scale for r in rows], [r["p95"] / scale for r in rows],
                            color=colours[name], alpha=0.25, linewidth=0)
            ax.plot(years, [r["p50"] / scale for r in rows], color=colours[name], linestyle=styles[name],
                    marker="o", markersize=widths[name] + 2, linewidth=widths[name],
                    label=f"{name}: median" + (", the same in every seed" if same else ", band p5-p95")
                    + f" (n={rows[0]['n']})")
        _finish(ax, f"{title} by year: median and p5-p95 over seeds", unit)
        written.append(_save(fig, folder / f"{metric}.png"))
    others = list(dict.fromkeys(r["scenario"] for r in paired if r["metric"] == "employer_cost"))
    if baseline and others:
        fig, axes = plt.subplots(2, len(others), figsize=(5.2 * len(others) + 1, 7.2), dpi=110, squeeze=False,
                                 sharex=True, gridspec_kw={"height_ratios": [3, 2]})
        for column, name in enumerate(others):
            rows = sorted((r for r in paired if r["scenario"] == name and r["metric"] == "employer_cost"),
                          key=lambda r: r["year"])
            years = [r["year"] for r in rows]
            top, bottom = axes[0][column], axes[1][column]
            unpaired = all(r["unpaired_p5"] is not None for r in rows)
            if unpaired:
                top.fill_between(years, [r["unpaired_p5"] / 1e6 for r in rows],
                                 [r["unpaired_p95"] / 1e6 for r in rows], color="grey", alpha=0.25, linewidth=0,
                                 label="unpaired p5-p95 (different seeds)")
            top.fill_between(years, [r["p5"] / 1e6 for r in rows], [r["p95"] / 1e6 for r in rows],
                             color=colours[name], alpha=0.6, linewidth=0, label="paired p5-p95 (same seed)")
            top.plot(years, [r["p50"] / 1e6 for r in rows], color=colours[name], marker="o", linewidth=2,
                     label="paired median")
            _finish(top, f"{name} minus {baseline}: employer cost", "USD millions")
            step = 0.38
            bottom.bar([y - step / 2 for y in years], [r["paired_width"] / 1e3 for r in rows], width=step,
                       color=colours[name], label="paired")
            if unpaired:
                bottom.bar([y + step / 2 for y in years], [r["unpaired_width"] / 1e3 for r in rows], width=step,
                           color="grey", alpha=0.6, label="unpaired")
            _finish(bottom, "width of the p5-p95 band", "USD thousands")
        fig.suptitle(f"Paired employer-cost difference against {baseline}, seed by seed", fontsize=12)
        written.append(_save(fig, folder / "paired_employer_cost.png"))
    written.append(_gross_and_net(bands, scenarios, colours, folder))
    return written


def _gross_and_net(bands: list[dict], scenarios: list[str], colours: dict, folder: Path) -> Path:
    """`gross_and_net_cost.png`: per scenario the median employer cost before (solid) and after (dashed) the
    forfeitures used, the gap between them being what forfeitures pay."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    for name in scenarios:
        for metric, style, words in (("employer_cost", "-", "gross"), ("net_employer_cost", "--", "net")):
            rows = sorted((r for r in bands if r["scenario"] == name and r["metric"] == metric), key=lambda r: r["year"])
            if rows:
                ax.plot([r["year"] for r in rows], [r["p50"] / 1e6 for r in rows], color=colours[name],
                        linestyle=style, marker="o", linewidth=2, label=f"{name}: {words} (median)")
    _finish(ax, "Employer cost by year, gross and net of forfeitures used", "USD millions")
    return _save(fig, folder / "gross_and_net_cost.png")


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
