"""The post-render fixes on real markup: scroll regions become focusable and named, <main> takes
focus, third-party @imports go, and a second pass changes nothing. (C9.11, C11.9, C12.7, C13.8)"""

from __future__ import annotations

from pathlib import Path

import pytest
import smalldocs

from docsite.fixes import fix_page, strip_external_imports
from docsite.postrender import fix_site

pytestmark = [
    pytest.mark.requirement("C9.11", "C11.9", "C12.7", "C13.8"),
    pytest.mark.catalogue(
        part="Docs site post-render fixes (docsite/fixes.py, docsite/postrender.py)",
        scope="unit",
        strategy="example-based",
        tool="pytest",
    ),
]

PAGE = """<!doctype html><html lang="en"><body>
<main class="content" id="quarto-document-content">
<div class="sourceCode" id="cb1"><pre class="sourceCode bash code-with-copy"><code>make docs</code></pre></div>
<div class="cell-output cell-output-stdout">
<pre><code>569 rows</code></pre>
</div>
<div id="tbl-x" class="quarto-float"><figure><figcaption id="tbl-x-caption">Scopes</figcaption>
<div aria-describedby="tbl-x-caption"><div class="sd-table"><table><tr><th>a</th></tr></table></div></div>
</figure></div>
<div class="cell-output cell-output-display"><table class="dataframe"><caption>Metrics<br>held out</caption>
<tr><td>1</td></tr></table></div>
<table><caption>Bare</caption><tr><td>2</td></tr></table>
<p>Text<br>more <img src="x.png" alt="x"></p>
</main></body></html>"""


def test_every_scroller_becomes_one_named_focusable_region():
    fixed = fix_page(PAGE)
    html = fixed.html
    assert '<pre tabindex="0" role="region" aria-label="Code block 1 (bash)" class="sourceCode bash' in html
    assert '<pre tabindex="0" role="region" aria-label="Output 1">' in html
    assert '<div tabindex="0" role="region" aria-labelledby="tbl-x-caption" class="sd-table">' in html
    assert (
        '<div tabindex="0" role="region" aria-label="Table: Metrics held out" class="cell-output cell-output-display">'
        in html
    )
    assert (
        '<div class="ms-scroll-table" tabindex="0" role="region" aria-label="Table: Bare"><table><caption>Bare' in html
    )
    assert "</table></div>\n<p>" in html
    assert html.count('tabindex="0"') == fixed.regions == 5
    # the output div around a <pre> is not a second stop: the <pre> is what scrolls
    assert '<div class="cell-output cell-output-stdout">' in html
    assert '<main tabindex="-1" class="content" id="quarto-document-content">' in html


def test_a_second_pass_changes_nothing():
    once = fix_page(PAGE).html
    again = fix_page(once)
    assert again.html == once and again.regions == 0


def test_only_imports_from_other_hosts_are_removed():
    css = (
        "@import url(https://fonts.googleapis.com/css2?family=Source+Sans+Pro:wght@300;400&display=swap);"
        '@import "//cdn.example.org/x.css" screen;@import url("local.css");body{color:red}'
    )
    out, removed = strip_external_imports(css)
    assert removed == 2 and out == '@import url("local.css");body{color:red}'


def test_the_theme_smalldocs_ships_loses_its_google_fonts_import(tmp_path):
    cosmo = Path(smalldocs.__file__).parent / "assets/vendor/bootswatch/cosmo.min.css"
    assert "fonts.googleapis.com" in cosmo.read_text(encoding="utf-8")  # the reason for the fix
    site = tmp_path / "_site"
    (site / "site_libs/themes").mkdir(parents=True)
    (site / "site_libs/themes/cosmo.min.css").write_bytes(cosmo.read_bytes())
    (site / "page.html").write_text(PAGE, encoding="utf-8")
    assert fix_site(site) == (1, 5, 1)
    assert "@import" not in (site / "site_libs/themes/cosmo.min.css").read_text(encoding="utf-8")
    assert fix_site(site) == (1, 0, 0)


def test_a_quarto_table_float_is_wrapped_in_a_region_named_by_its_caption():
    quarto = (
        '<div id="tbl-s" class="quarto-float"><figure><figcaption id="tbl-s-caption">Scopes</figcaption>'
        '<div aria-describedby="tbl-s-caption"><table class="caption-top table"><tr><td>1</td></tr></table>'
        "</div></figure></div>"
    )
    fixed = fix_page(quarto)
    assert fixed.regions == 1
    assert (
        '<div aria-describedby="tbl-s-caption"><div class="ms-scroll-table" tabindex="0" role="region" '
        'aria-labelledby="tbl-s-caption"><table class="caption-top table">'
    ) in fixed.html


# a sidebar section as both renderers write it (Quarto with line breaks, smalldocs on one line)
SECTION = """<li class="sidebar-item sidebar-item-section"><div class="sidebar-item-container">
<a class="sidebar-item-text sidebar-link text-start" data-bs-toggle="collapse"
 data-bs-target="#quarto-sidebar-section-2" role="navigation" aria-expanded="true">
 <span class="menu-text">Tests &amp; results</span></a>
<a class="sidebar-item-toggle text-start" data-bs-toggle="collapse" data-bs-target="#quarto-sidebar-section-2"
 role="navigation" aria-expanded="true" aria-label="Toggle section">
  <i class="bi bi-chevron-right ms-2"></i>
</a></div>
<ul id="quarto-sidebar-section-2" class="collapse list-unstyled sidebar-section depth1 show">
<li><a href="testing.html" class="sidebar-item-text sidebar-link">Tests</a></li></ul></li>"""


def test_the_sidebar_section_toggles_become_named_buttons_and_no_landmark():
    html = fix_page(SECTION).html
    assert 'role="navigation"' not in html  # the section title and its chevron were two landmarks
    assert (
        '<button type="button" class="sidebar-item-toggle text-start" data-bs-toggle="collapse" '
        'data-bs-target="#quarto-sidebar-section-2" aria-controls="quarto-sidebar-section-2" '
        'aria-expanded="true" aria-label="Tests &amp; results pages">\n  <i aria-hidden="true" class="bi '
    ) in html
    assert html.count("<button") == html.count("</button>") == 1 and "</a></div>" not in html
    # the title keeps its mouse toggle, without a state it cannot be focused to change
    title = '<a class="sidebar-item-text sidebar-link text-start" data-bs-toggle="collapse"\n'
    assert title + ' data-bs-target="#quarto-sidebar-section-2">' in html
    assert html.count("aria-expanded") == 1
    assert '<a href="testing.html" class="sidebar-item-text sidebar-link">Tests</a>' in html
    assert fix_page(html).html == html
