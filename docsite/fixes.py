"""What the post-render step changes in the built site, as functions of the files' text.

Both renderers (Quarto, smalldocs) emit the same Bootstrap/Quarto markup, so one set of fixes
serves both:

- every block that can scroll sideways (code, cell outputs, wide tables, display maths) becomes a
  focusable, named region, so a keyboard user can reach it and scroll it with the arrow keys;
- the main content takes focus from the skip link;
- the sidebar's section toggles stop being navigation landmarks (both renderers mark the two
  `<a>` of each section heading `role="navigation"`, so a screen reader lists every section twice
  among the landmarks, as "Toggle section"); the chevron becomes a button, named by its section,
  that Tab reaches and Enter or Space works;
- stylesheets lose their `@import` of third-party hosts (Bootswatch's cosmo imports Google Fonts),
  so a page loads nothing from outside the site.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

MAIN_ID = "quarto-document-content"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
# classes of the containers the themes give `overflow-x: auto`
SCROLLER_CLASSES = {"sd-table", "cell-output-display", "table-responsive", "ms-scroll-table"}
WRAPPER_CLASS = "ms-scroll-table"
# classes of a code block's <pre> that are not its language
NOT_A_LANGUAGE = {
    "sourceCode",
    "code-with-copy",
    "number-lines",
    "cell-code",
    "code-overflow-wrap",
    "code-overflow-scroll",
}


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    start: int  # offset of "<"
    scroller: bool = False
    has_inner_scroller: bool = False
    caption: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _Scan(HTMLParser):
    """Finds where the fixes go; the edits are applied to the original text afterwards, so
    nothing but the inserted attributes and wrappers changes."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.stack: list[_Element] = []
        self.inserts: list[tuple[int, str]] = []
        self.counts = {"code": 0, "output": 0, "table": 0, "maths": 0}
        self.regions = 0
        self.pending_wrap: list[_Element] = []  # tables in no scroller, to wrap in one

    def position(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = _Element(tag, {k: v or "" for k, v in attrs}, self.position())
        if tag == "main" and el.attrs.get("id") == MAIN_ID and "tabindex" not in el.attrs:
            self.insert_attrs(el, {"tabindex": "-1"})
        classes = el.classes
        maths = "math" in classes and "display" in classes
        el.scroller = tag == "pre" or (tag == "div" and bool(classes & SCROLLER_CLASSES)) or maths
        if el.scroller:
            for outer in self.stack:
                if outer.scroller:
                    outer.has_inner_scroller = True
        if tag == "table" and not any(outer.scroller for outer in self.stack):
            self.pending_wrap.append(el)
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if any(el.tag in ("caption", "figcaption") for el in self.stack):
            for el in reversed(self.stack):
                if el.scroller or el.tag == "table":
                    el.caption.append(data)
                    break

    def handle_endtag(self, tag: str) -> None:
        depth = next((i for i in range(len(self.stack) - 1, -1, -1) if self.stack[i].tag == tag), None)
        if depth is None:
            return
        while len(self.stack) > depth:
            el = self.stack.pop()
            if el.tag == tag:
                self.finish(el)

    def finish(self, el: _Element) -> None:
        if el.tag == "table":
            holder = next((outer for outer in reversed(self.stack) if outer.scroller), None)
            if holder is not None:  # the container that scrolls is named by the table's caption
                holder.caption += el.caption
        if el.tag == "table" and self.pending_wrap and self.pending_wrap[-1] is el:
            self.pending_wrap.pop()
            end = self.text.index(">", self.position()) + 1
            described = self.described_by()
            caption = " ".join(el.caption)
            named = {"aria-labelledby": described} if described else {"aria-label": self.label_for_table(caption)}
            attrs = {"class": WRAPPER_CLASS, "tabindex": "0", "role": "region", **named}
            self.inserts.append((el.start, f"<div {format_attrs(attrs)}>"))
            self.inserts.append((end, "</div>"))
            self.regions += 1
            return
        if not el.scroller or el.has_inner_scroller or "tabindex" in el.attrs:
            return
        self.insert_attrs(el, {"tabindex": "0", "role": "region", **self.name(el)})
        self.regions += 1

    def name(self, el: _Element) -> dict[str, str]:
        """The region's accessible name: what it is, and the caption when it has one."""
        if el.tag == "pre":
            if any("cell-output" in " ".join(outer.classes) for outer in self.stack):
                self.counts["output"] += 1
                return {"aria-label": f"Output {self.counts['output']}"}
            self.counts["code"] += 1
            langs = [c for c in el.classes if c not in NOT_A_LANGUAGE]
            suffix = f" ({langs[0]})" if len(langs) == 1 and "sourceCode" in el.classes else ""
            return {"aria-label": f"Code block {self.counts['code']}{suffix}"}
        if "math" in el.classes:
            self.counts["maths"] += 1
            return {"aria-label": f"Equation {self.counts['maths']}"}
        described = self.described_by()
        if described:
            return {"aria-labelledby": described}
        if "cell-output-display" in el.classes and not el.caption:
            self.counts["output"] += 1
            return {"aria-label": f"Output {self.counts['output']}"}
        return {"aria-label": self.label_for_table(" ".join(el.caption))}

    def described_by(self) -> str | None:
        """The id of the caption of the float (a Quarto table or figure) the element is in, if any."""
        return next((o.attrs["aria-describedby"] for o in reversed(self.stack) if "aria-describedby" in o.attrs), None)

    def label_for_table(self, caption: str) -> str:
        self.counts["table"] += 1
        text = " ".join(caption.split())
        return f"Table: {text}" if text else f"Table {self.counts['table']}"

    def insert_attrs(self, el: _Element, attrs: dict[str, str]) -> None:
        self.inserts.append((el.start + 1 + len(el.tag), " " + format_attrs(attrs)))


def format_attrs(attrs: dict[str, str]) -> str:
    return " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items())


@dataclass
class PageFixes:
    html: str
    regions: int


_COLLAPSE_LINK = re.compile(
    r"""<a\b(?=[^>]*\bdata-bs-toggle="collapse")(?=[^>]*\brole="navigation")[^>]*>""", re.IGNORECASE
)
_SECTION_TITLE = re.compile(r"""\s*<span class="menu-text">(.*?)</span>""", re.DOTALL)


def _attr(tag: str, name: str) -> str:
    found = re.search(rf'\b{name}="([^"]*)"', tag)
    return found.group(1) if found else ""


def fix_sidebar_toggles(text: str) -> str:
    """The sidebar's collapse links: the section title loses its landmark role and state (a mouse
    click still folds the section); the chevron becomes a named button with that state."""
    out: list[str] = []
    last, titles = 0, dict[str, str]()
    for m in _COLLAPSE_LINK.finditer(text):
        tag, target = m.group(0), _attr(m.group(0), "data-bs-target")
        classes = _attr(tag, "class").split()
        if "sidebar-item-toggle" in classes:
            end = text.find("</a>", m.end())
            if end < 0:
                continue
            icon = text[m.end() : end].replace("<i ", '<i aria-hidden="true" ', 1)
            name = f"{titles.get(target, 'Section')} pages"
            attrs = {
                "type": "button",
                "class": _attr(tag, "class"),
                "data-bs-toggle": "collapse",
                "data-bs-target": target,
                "aria-controls": target.removeprefix("#"),
                "aria-expanded": _attr(tag, "aria-expanded") or "true",
                "aria-label": name,
            }
            out += [text[last : m.start()], f"<button {format_attrs(attrs)}>{icon}</button>"]
            last = end + len("</a>")
        else:
            title = _SECTION_TITLE.match(text, m.end())
            if title:
                titles[target] = html.unescape(re.sub(r"<[^>]+>", "", title.group(1))).strip()
            plain = re.sub(r"""\s(?:role="navigation"|aria-expanded="[^"]*")""", "", tag)
            out += [text[last : m.start()], plain]
            last = m.end()
    out.append(text[last:])
    return "".join(out)


def fix_page(text: str) -> PageFixes:
    """Make the scrollable blocks of a page keyboard-reachable regions, let <main> take focus and
    turn the sidebar's section toggles into buttons."""
    text = fix_sidebar_toggles(text)
    scan = _Scan(text)
    scan.feed(text)
    scan.close()
    out, last = [], 0
    for at, piece in sorted(scan.inserts, key=lambda item: item[0]):
        out += [text[last:at], piece]
        last = at
    out.append(text[last:])
    return PageFixes("".join(out), scan.regions)


_EXTERNAL = r"(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//"
EXTERNAL_IMPORT = re.compile(
    rf"""@import\s+(?:url\(\s*(["']?){_EXTERNAL}[^)]*?\1\s*\)|(["']){_EXTERNAL}.*?\2)[^;]*;""", re.IGNORECASE
)


def strip_external_imports(css: str) -> tuple[str, int]:
    """Remove every `@import` of a stylesheet on another host; returns the CSS and how many went."""
    return EXTERNAL_IMPORT.subn("", css)
