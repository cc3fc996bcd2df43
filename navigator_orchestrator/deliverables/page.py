"""The shell every HTML deliverable shares: one self-contained document (inline style, no script, font, image or
link that leaves the file), so it opens from a file:// URL or an e-mail attachment, reads at 1366 px and prints.
"""

import html
from numbers import Number

STYLE = """
:root { --ink: #1f2933; --muted: #52606d; --rule: #cbd2d9; --band: #f5f7fa; --bad: #b42318; --good: #067647; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px 32px 48px; color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 16px; }
section { break-inside: auto; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
.wide { overflow-x: auto; max-width: 100%; }
.status-failed, .status-interrupted, .status-running, .fail { color: var(--bad); font-weight: 600; }
.status-success, .status-complete, .pass { color: var(--good); font-weight: 600; }
.alert { border: 2px solid var(--bad); background: #fef3f2; padding: 10px 14px; margin: 12px 0 20px; }
.alert h2 { margin-top: 0; border: 0; color: var(--bad); }
.warn { color: #b7791f; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
.charts svg { max-width: 100%; height: auto; }
.side { display: flex; flex-wrap: wrap; gap: 8px 32px; align-items: flex-start; }
nav.contents { margin: 0 0 12px; color: var(--muted); }
nav.contents a { margin-right: 14px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 6px 0 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
figure { margin: 8px 0 16px; }
figcaption { color: var(--muted); font-size: 12px; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; }
  table, figure, .alert { break-inside: avoid; }
  .wide { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


class Markup(str):
    """Text that is already HTML: `table` puts it in as it is."""


class Numeric(str):
    """A number already formatted as text ("1,234.50", "12.00 %"): `table` right-aligns it and writes `data`
    ({"metric": "employer_match", "year": 2027}, say) as data- attributes of its cell, for a reader or a test."""

    data: dict

    def __new__(cls, text: str, **data) -> "Numeric":
        made = super().__new__(cls, text)
        made.data = data
        return made


def escape(text) -> str:
    """Any value as HTML text (quotes too, so it is safe inside an attribute)."""
    return html.escape("" if text is None else str(text), quote=True)


def document(title: str, body_html: str) -> str:
    """A whole HTML page: the shared inline style and `body_html` (already HTML), nothing fetched from outside."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body_html}\n</body>\n</html>\n")


def table(headers: list[str], rows: list[list]) -> str:
    """An HTML table of already formatted cells: strings are escaped, numbers right-aligned.

    A cell that is a `Markup` is put in as it is (a link, a coloured status)."""
    head = "".join(f'<th class="num">{escape(h)}</th>' if _numeric_column(rows, i) else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>\n" for row in rows)
    return f'<div class="wide"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table></div>'


def _cell(value) -> str:
    if isinstance(value, Markup):
        return f"<td>{value}</td>"
    if _is_number(value):
        data = "".join(f' data-{name}="{escape(v)}"' for name, v in getattr(value, "data", {}).items())
        return f'<td class="num"{data}>{escape(value)}</td>'
    return f"<td>{escape(value)}</td>"


def _numeric_column(rows: list[list], index: int) -> bool:
    cells = [row[index] for row in rows if index < len(row) and row[index] not in ("", None)]
    return bool(cells) and all(_is_number(c) for c in cells)


def _is_number(value) -> bool:
    return isinstance(value, Numeric) or (isinstance(value, Number) and not isinstance(value, bool))
