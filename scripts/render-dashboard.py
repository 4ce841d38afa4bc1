#!/usr/bin/env python3
"""Renders docs/monitoring/grafana-dashboard.json to a PNG from a Prometheus server's data.

Grafana cannot be installed from the package registries this project's machines reach, so
this draws the dashboard's panels itself: every panel's PromQL goes, unchanged (dashboard
variables set to match everything), to Prometheus' query_range API, and the results are
plotted in the dashboard's grid layout. Needs matplotlib.

    render-dashboard.py --prometheus http://127.0.0.1:9090 --start 1700000000 --end 1700000300 \
        --dashboard docs/monitoring/grafana-dashboard.json --out docs/monitoring/dashboard.png
"""

import argparse
import json
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

VARIABLES = {"$job": ".*", "$instance": ".*", "${datasource}": ""}


def query_range(base, expr, start, end, step):
    for k, v in VARIABLES.items():
        expr = expr.replace(k, v)
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, metric):
    if not fmt:
        return ",".join(f"{k}={v}" for k, v in metric.items() if k != "__name__") or "value"
    out = fmt
    for k, v in metric.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def human(v, unit):
    if unit == "bytes":
        for suffix in ["B", "KiB", "MiB", "GiB"]:
            if abs(v) < 1024 or suffix == "GiB":
                return f"{v:.1f} {suffix}"
            v /= 1024
    if unit == "s":
        return f"{v * 1000:.1f} ms" if abs(v) < 1 else f"{v:.2f} s"
    if unit == "ops":
        return f"{v:.1f}/s"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--start", type=float, required=True)
    ap.add_argument("--end", type=float, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    dash = json.load(open(args.dashboard))
    step = max(1.0, (args.end - args.start) / 150)
    panels = dash["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(24, rows * 0.55), dpi=80)
    fig.patch.set_facecolor("#111217")
    grid = GridSpec(rows, 24, figure=fig, hspace=1.2, wspace=0.8, top=0.96, bottom=0.02)
    t0 = datetime.fromtimestamp(args.start, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    fig.suptitle(
        f"{dash['title']}  (rendered from Prometheus data of a real run, {t0} UTC, "
        f"{int(args.end - args.start)} s)",
        color="white",
        fontsize=16,
    )
    for p in panels:
        g = p["gridPos"]
        ax = fig.add_subplot(grid[g["y"] : g["y"] + g["h"], g["x"] : g["x"] + g["w"]])
        ax.set_facecolor("#181b1f")
        for spine in ax.spines.values():
            spine.set_color("#333")
        ax.tick_params(colors="#ccc", labelsize=8)
        ax.set_title(p["title"], color="white", fontsize=11, loc="left")
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        if p["type"] == "stat":
            result = query_range(args.prometheus, p["targets"][0]["expr"], args.start, args.end, step)
            last = None
            for series in result:
                if series["values"]:
                    last = float(series["values"][-1][1])
            ax.text(0.5, 0.4, "-" if last is None else human(last, unit), color="#73bf69",
                    fontsize=26, ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for t in p["targets"]:
            for series in query_range(args.prometheus, t["expr"], args.start, args.end, step):
                xs = [float(v[0]) - args.start for v in series["values"]]
                ys = [float(v[1]) for v in series["values"]]
                ax.plot(xs, ys, linewidth=1.4, label=legend(t.get("legendFormat"), series["metric"]))
        ax.set_xlim(0, args.end - args.start)
        ax.set_xlabel("seconds into the run", color="#999", fontsize=8)
        ax.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _, u=unit: human(v, u))
        )
        ax.grid(color="#2a2d33")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", facecolor="#181b1f", labelcolor="#ccc",
                      framealpha=0.8, ncol=2)
    fig.savefig(args.out, facecolor=fig.get_facecolor(), bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
