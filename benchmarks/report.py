"""Results: the table on stdout (plain or Markdown), ``results.json`` and
the optional bar chart. The table can be re-rendered from a saved file:
``python -m benchmarks.report benchmarks/results.json --markdown``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.catalog import LABELS, MAIN, PGBUILD, PSYCOPG

TIMES = "\u00d7"  # the multiplication sign of "1.25x"
GROUPS = {"compile": "compile only", "sync": "Database", "async": "AsyncDatabase"}
# An extra contender's number goes in the column of the library it belongs to.
FAMILY = {"pgbuild_copy_into": PGBUILD, "psycopg_copy": PSYCOPG, "psycopg_json_agg": PSYCOPG}


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            digits = 0 if value >= 100 else 1 if value >= 10 else 2
            return f"{value:.{digits}f} {unit}"
    raise AssertionError


def _cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return ""
    if entry.get("error"):
        return "error"
    ratio = entry.get("ratio")
    text = fmt_time(entry.get("median_s"))
    return f"{text} ({ratio:.2f}{TIMES})" if ratio is not None else text


def _rows(results: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(group, label, one cell per main contender) per table row; an extra
    contender (COPY, json_agg) gets a row of its own under its case."""
    rows = []
    previous = None
    for case in results["cases"]:
        group = GROUPS.get(case["group"], case["group"]) if case["group"] != previous else ""
        previous = case["group"]
        contenders = case["contenders"]
        rows.append((group, case["title"], [_cell(contenders.get(name)) for name in MAIN]))
        for name, entry in contenders.items():
            if name in MAIN:
                continue
            cells = ["" for _ in MAIN]
            cells[MAIN.index(FAMILY.get(name, PSYCOPG))] = _cell(entry)
            rows.append(("", f"  + {LABELS.get(name, name)}", cells))
    return rows


def _used(results: dict[str, Any]) -> list[int]:
    """The main columns some case has a number in."""
    return [
        i for i, name in enumerate(MAIN)
        if any(name in case["contenders"] for case in results["cases"])
    ]


def text_table(results: dict[str, Any]) -> str:
    columns = _used(results)
    head = ["", "case", *(LABELS[MAIN[i]] for i in columns)]
    body = [[g, title, *(cells[i] for i in columns)] for g, title, cells in _rows(results)]
    widths = [max(len(r[k]) for r in [head, *body]) for k in range(len(head))]
    lines = []
    for k, r in enumerate([head, *body]):
        if k > 0 and r[0] and lines:
            lines.append("")
        lines.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    return "\n".join(lines)


def markdown_table(results: dict[str, Any]) -> str:
    columns = _used(results)
    head = ["", "case", *(LABELS[MAIN[i]] for i in columns)]
    rule = ["---", "---"] + ["--:"] * len(columns)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    for group, title, cells in _rows(results):
        row = [group, title.strip(), *(cells[i] for i in columns)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def summary(results: dict[str, Any]) -> str:
    """The lines around the table: what was measured, and on what."""
    s, pg, v, data = (results["settings"], results["postgresql"], results["versions"],
                      results["dataset"])
    m = results["machine"]
    ran = {name for case in results["cases"] for name in case["contenders"]}

    def peer(name: str, label: str) -> str:
        return f"{label} {v[name]}" if name in ran else f"{label} not run"

    lines = [
        f"pgbuild benchmarks ({results['mode']}): median time per operation over "
        f"{s['rounds']} interleaved rounds, after {s['warmup']} warm-up operations each;",
        f"({TIMES}) = ratio to psycopg, the same SQL by hand (compile-only cases: to pgbuild).",
        f"PostgreSQL {pg.get('server_version')} ({results['server']}, {pg.get('connection')}, "
        f"fsync={pg.get('fsync')}); {data['users']:,} users, {data['sessions']:,} sessions.",
        f"Python {m['python']}, psycopg {v['psycopg']} ({v['psycopg_impl']}, libpq {v['libpq']}), "
        f"pgbuild {v.get('pgbuild_source') or v.get('pgbuild')}, "
        f"{peer('sqlalchemy', 'SQLAlchemy')}, {peer('pypika', 'PyPika')}; "
        f"{m['cpu']} x{m['cpu_count']}.",
    ]
    network = results.get("network")  # absent from files of older runs
    if network:
        line = f"Round trip (an empty query): {fmt_time(network['round_trip_s'])}"
        if network.get("added_ms"):
            line += (f", through a proxy adding {network['added_ms']:g} ms"
                     f" (direct: {fmt_time(network['direct_round_trip_s'])})")
        lines.append(line + ".")
    return "\n".join(lines)


def footnotes(results: dict[str, Any]) -> str:
    lines = [f"note: {n}" for n in results.get("notes", [])]
    for case in results["cases"]:
        for name, entry in case["contenders"].items():
            if entry.get("error"):
                lines.append(f"error: {case['id']} {LABELS.get(name, name)}: {entry['error']}")
    return "\n".join(lines)


def render(results: dict[str, Any], markdown: bool = False) -> str:
    table = markdown_table(results) if markdown else text_table(results)
    parts = [summary(results), "", table]
    notes = footnotes(results)
    if notes:
        parts += ["", notes]
    return "\n".join(parts)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def write_chart(results: dict[str, Any], path: Path) -> str | None:
    """A PNG of the ratios, one panel per group; needs matplotlib (optional).
    Returns a note when it could not be drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed"
    cases_of = {g: [c for c in results["cases"] if c["group"] == g] for g in GROUPS}
    groups = [g for g in GROUPS if cases_of[g]]
    names = [n for n in LABELS if any(n in c["contenders"] for c in results["cases"])]
    colors = {n: f"C{k}" for k, n in enumerate(LABELS)}  # the same colour in every panel
    rows = [len(cases_of[g]) for g in groups]
    fig, axes = plt.subplots(
        len(groups), 1, figsize=(10, 1.5 + 0.75 * sum(rows) + 0.5 * len(groups)),
        squeeze=False, gridspec_kw={"height_ratios": rows},
    )
    top = max((e.get("ratio") or 0) for c in results["cases"] for e in c["contenders"].values())
    for ax, group in zip(axes[:, 0], groups, strict=True):
        cases = cases_of[group]
        bar = 0.8 / max(len(c["contenders"]) for c in cases)
        for j, case in enumerate(cases):
            ratios = [(n, case["contenders"][n].get("ratio")) for n in names
                      if n in case["contenders"]]
            for k, (name, ratio) in enumerate(ratios):
                if not ratio:
                    continue
                y = j + (k - (len(ratios) - 1) / 2) * bar
                ax.barh(y, ratio, height=bar, color=colors[name])
                ax.text(ratio, y, f" {ratio:.2f}", va="center", fontsize=6)
        ax.set_yticks(range(len(cases)), [c["title"] for c in cases], fontsize=8)
        ax.set_ylim(len(cases) - 0.5, -0.5)
        ax.set_xlim(0, top * 1.12)
        ax.axvline(1.0, color="black", linewidth=0.8)
        base = "pgbuild" if group == "compile" else "psycopg"
        ax.set_title(f"{GROUPS[group]}: median time / {base}'s (lower is faster)", fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[n]) for n in names]
    fig.legend(handles, [LABELS[n] for n in names], loc="upper center", ncol=len(names),
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report", description="Print a saved results.json as a table."
    )
    parser.add_argument("path", type=Path, nargs="?",
                        default=Path(__file__).resolve().parent / "results.json")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args(argv)
    results = json.loads(args.path.read_text())
    sys.stdout.write(render(results, markdown=args.markdown) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
