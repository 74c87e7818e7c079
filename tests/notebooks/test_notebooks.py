"""The notebooks themselves: papermill runs them with small parameters, nbval checks
the executed copies, a failing data rule stops the run, and a second dataset runs
through by parameters alone. The executed copies, rendered as site pages, show every
caption their cells claim and figures whose alt texts state the run's own numbers.
(C12.3, C12.4, C12.8, C13.4, C13.5; pages: C9.11, C12.7)"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbval.plugin import find_comment_markers
from rendered_pages import Element, build_site, caption_of, main_content, read_page

from modelship.registry import Registry
from support import (
    BREAST_CANCER_WORDS,
    KERNEL,
    PIPELINE_NOTEBOOKS,
    ROOT,
    SYNTHETIC_OVERRIDES,
    make_synthetic,
    run_pipeline,
    small_params,
)

pytestmark = [
    pytest.mark.notebooks,
    pytest.mark.requirement("C12.3", "C12.4", "C12.8", "C13.4", "C13.5"),
    pytest.mark.catalogue(
        part="Pipeline: notebooks 01_data_checks, 02_train, 03_evaluate",
        scope="end-to-end", strategy="example-based, inspection", tool="pytest, papermill, nbval",
    ),
]
NOTEBOOKS = PIPELINE_NOTEBOOKS


def as_site_page(test):
    """Marks a test of the executed notebooks as pages of the docs site, which must be accessible."""
    test = pytest.mark.requirement("C9.11", "C12.7")(test)
    return pytest.mark.catalogue(part="Docs site: the executed notebooks as pages",
                                 tool="pytest, papermill, smalldocs")(test)


@pytest.fixture(scope="module")
def wdbc_run(executed_notebooks):
    """The session's small pipeline run on the embedded data (shared with the site tests)."""
    return executed_notebooks.parent, [executed_notebooks / f"{name}.ipynb" for name in NOTEBOOKS]


def outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or json.dumps(out.get("data", {})))
    return "\n".join(parts)


def rendered_text(path: Path) -> str:
    """What a reader of the rendered report sees: prose, code with its alt texts and captions, outputs."""
    nb = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in nb.cells) + "\n" + outputs_text(path)


def test_pipeline_notebooks_end_with_a_promoted_model(wdbc_run):
    folder, _ = wdbc_run
    registry = Registry(folder / "registry")
    production = registry.production()
    assert production == "v0001"
    meta = registry.metadata(production)
    assert meta["gate"]["promote"] and meta["metrics"]["recall"] >= 0.93 and 0 < meta["threshold"] < 1
    assert (registry.version_dir(production) / "model_card.md").exists()
    assert (registry.version_dir(production) / "reference_profile.bin").exists()


def test_executed_notebooks_have_no_errors_and_show_the_gate(wdbc_run):
    _, outputs = wdbc_run
    for path in outputs:
        nb = nbformat.read(path, as_version=4)
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"], path
    assert "PROMOTE" in outputs_text(outputs[2])
    assert "569 rows, 31 columns" in outputs_text(outputs[0])
    assert "WARNING" not in outputs_text(outputs[0])  # the manifest was checked


def quarto_options(source: str) -> tuple[dict, list[str]]:
    """A code cell's options as Quarto reads them: only the `#|` lines that open the cell.

    Returns the options and any `#|` line further down, which Quarto leaves as a plain comment.
    """
    lines = source.splitlines()
    lead = 0
    while lead < len(lines) and lines[lead].startswith("#|"):
        lead += 1
    options = yaml.safe_load("\n".join(line[2:] for line in lines[:lead])) if lead else {}
    assert options is None or isinstance(options, dict), f"options that are not a mapping: {lines[:lead]}"
    return options or {}, [line for line in lines[lead:] if line.lstrip().startswith("#|")]


def source_cells(name: str) -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"]


@as_site_page
def test_quarto_options_are_read_from_a_cells_first_lines_only():
    assert quarto_options("#| label: tbl-a\n#| tbl-cap: A.\nx") == ({"label": "tbl-a", "tbl-cap": "A."}, [])
    assert quarto_options("# NBVAL_CHECK_OUTPUT\n#| label: tbl-a\nx") == ({}, ["#| label: tbl-a"])


@as_site_page
def test_every_cell_option_is_where_quarto_reads_it_and_every_label_has_its_caption():
    labelled = []
    for name in NOTEBOOKS:
        for cell in source_cells(name):
            options, stray = quarto_options(cell.source)
            assert stray == [], f"{name}: options below the cell's first lines are lost: {stray}"
            label = str(options.get("label", ""))
            for prefix, needed in (("tbl-", ("tbl-cap",)), ("fig-", ("fig-cap", "fig-alt"))):
                if label.startswith(prefix) or any(key in options for key in needed):
                    assert label.startswith(prefix) and all(options.get(k) for k in needed), (name, options)
            labelled += [label] if label else []
    assert len(labelled) == len(set(labelled)) and len(labelled) >= 10, labelled


def test_nbval_reads_its_markers_below_the_options():
    marked = [c for name in NOTEBOOKS for c in source_cells(name) if "NBVAL_CHECK_OUTPUT" in c.source]
    assert any(quarto_options(c.source)[0] for c in marked)  # the markers sit below options somewhere
    for cell in marked:
        assert dict(find_comment_markers(cell.source)).get("check") is True, cell.source


def test_each_notebook_has_a_parameters_cell():
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and "params_file" in tagged[0].source


def test_nbval_accepts_the_executed_notebooks(wdbc_run):
    folder, outputs = wdbc_run
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           "--nbval-current-env", *map(str, outputs)],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
    # nbval re-ran the pipeline on the same data and params: training recognised v0001
    # instead of registering an identical v0002
    registry = Registry(folder / "registry")
    assert registry.versions() == ["v0001"] and registry.latest_candidate() == ("v0001", True)
    assert registry.production() == "v0001"


def test_nbval_checks_the_output_of_a_marked_cell_whose_options_come_first(wdbc_run, tmp_path):
    folder, outputs = wdbc_run
    nb = nbformat.read(outputs[0], as_version=4)
    cell = next(c for c in nb.cells if quarto_options(c.source)[0].get("label") == "tbl-dataset-checks")
    assert "NBVAL_CHECK_OUTPUT" in cell.source
    for out in cell.outputs:  # a stored result nbval must find different from the one it recomputes
        out["data"] = {mime: str(value).replace("pass", "FAIL") for mime, value in out["data"].items()}
    tampered = tmp_path / "01_data_checks.ipynb"
    nbformat.write(nb, tampered)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           "--nbval-current-env", str(tampered)],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "1 failed" in proc.stdout, proc.stdout[-3000:]
    assert "report = check_dataset(frame, contract, P)" in proc.stdout  # the failing cell is the tampered one


# -- the executed notebooks as site pages --------------------------------------------------


def rendered_reports(outputs: list[Path], folder: Path) -> dict[str, Element]:
    """Each executed notebook as smalldocs renders it for the site: the page's main content."""
    (folder / "reports").mkdir(parents=True)
    for path in outputs:
        (folder / "reports" / path.name).write_bytes(path.read_bytes())
    site = build_site(folder, ["reports/*.ipynb"])
    return {path.stem: main_content(read_page(site / "reports" / f"{path.stem}.html")) for path in outputs}


@pytest.fixture(scope="module")
def wdbc_pages(wdbc_run, tmp_path_factory):
    return rendered_reports(wdbc_run[1], tmp_path_factory.mktemp("wdbc-site"))


def figure_alts(page: Element) -> dict[str, str]:
    """Every picture of the page, by the id of its figure, with its alt text."""
    alts = {}
    for img in page.iter("img"):
        figure = img.ancestor("figure")
        ident = img.attrs.get("id") or (figure.attrs.get("id") if figure else None)
        assert ident and ident.startswith("fig-"), f"a picture without a figure id: {img.attrs.get('alt')}"
        alts[ident] = img.attrs.get("alt", "")
    return alts


@as_site_page
def test_the_rendered_reports_show_every_caption_their_cells_claim(wdbc_pages):
    for name in NOTEBOOKS:
        page = wdbc_pages[name]
        for cell in source_cells(name):
            options = quarto_options(cell.source)[0]
            if "tbl-cap" in options:
                target = page.by_id(options["label"])
                assert target is not None, f"{name}: no element with id {options['label']}"
                assert next(target.iter("table"), None) is not None, f"{name}: {options['label']} shows no table"
                assert caption_of(target) == options["tbl-cap"], (name, options["label"], caption_of(target))
        for table in page.iter("table"):  # a DataFrame a cell shows is a table that claims a caption
            if "dataframe" in table.attrs.get("class", ""):
                assert caption_of(table), f"{name}: a DataFrame shown without a tbl-cap: {table.text()[:200]}"


@as_site_page
def test_every_figure_of_the_rendered_reports_has_an_id_a_caption_and_an_alt_text(wdbc_pages):
    images = 0
    for name in NOTEBOOKS:
        page = wdbc_pages[name]
        for img in page.iter("img"):
            figure = img.ancestor("figure")
            assert figure is not None and caption_of(figure), f"{name}: a picture without a caption"
            assert len(img.attrs.get("alt", "")) > 40, f"{name}: a picture without a real alt text"
        images += len(figure_alts(page))
    assert set(figure_alts(wdbc_pages["03_evaluate"])) == {"fig-calibration", "fig-roc", "fig-probabilities"}
    assert images == 3


@as_site_page
def test_cross_references_in_the_rendered_reports_are_links_to_ids_on_the_page(wdbc_pages):
    links = 0
    for name in NOTEBOOKS:
        page = wdbc_pages[name]
        assert not re.search(r"@(tbl|fig)-", page.text()), f"{name}: a cross-reference left as literal text"
        ids = page.ids()
        for a in page.iter("a"):
            href = a.attrs.get("href", "")
            if re.match(r"#(tbl|fig)-", href):
                assert href[1:] in ids, f"{name}: {href} points at no element of the page"
                links += 1
    assert links >= 2  # the gate's links to the metrics and behaviour tables


@as_site_page
def test_the_figures_alt_texts_state_the_runs_own_numbers(wdbc_run, wdbc_pages):
    folder, _ = wdbc_run
    registry = Registry(folder / "registry")
    meta = registry.metadata(registry.latest())
    m, c, threshold = meta["metrics"], meta["confusion"], meta["threshold"]
    pos, neg = meta["positive_label"], meta["negative_label"]
    alts = figure_alts(wdbc_pages["03_evaluate"])
    assert f"Brier score {m['brier']:.3f}" in alts["fig-calibration"] and pos in alts["fig-calibration"]
    roc = alts["fig-roc"]
    assert f"AUC {m['roc_auc']:.3f}" in roc and f"threshold {threshold:.3f}" in roc
    assert f"true positive rate of {m['recall']:.3f}" in roc
    assert f"{c['tp'] + c['fn']} {pos} cases and {c['fp'] + c['tn']} {neg} cases" in roc
    histograms = alts["fig-probabilities"]
    assert f"{c['fp']} at or above the threshold" in histograms and f"{c['fn']} below the threshold" in histograms
    assert f"{c['fp'] + c['tn']} actual {neg} cases" in histograms and f"threshold {threshold:.3f}" in histograms


def run_data_checks(params_file: Path, out: Path) -> subprocess.CompletedProcess:
    """01 alone, as `make data-checks` runs it: a failure is a non-zero exit with the message on stderr."""
    return subprocess.run([sys.executable, "-m", "papermill", "--kernel", KERNEL, "--cwd", str(ROOT),
                           "-p", "params_file", str(params_file), str(ROOT / "notebooks/01_data_checks.ipynb"),
                           str(out)], capture_output=True, text=True, timeout=300)


def test_a_failed_data_rule_stops_the_run_with_a_clear_message(tmp_path):
    frame = pd.read_csv(ROOT / "data/raw/wdbc.csv")
    frame.loc[42, "mean_radius"] = 1400.0
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    params_file = small_params(tmp_path, snapshot=str(bad), manifest=None)
    proc = run_data_checks(params_file, tmp_path / "out.ipynb")
    assert proc.returncode != 0
    assert "DataCheckError" in proc.stderr and "ranges [mean_radius]" in proc.stderr
    assert "data row 42 (file line 44)" in proc.stderr
    assert not (tmp_path / "processed" / "train.csv").exists()  # nothing written past the gate


def test_a_missing_value_the_contract_does_not_allow_stops_the_data_checks_naming_the_field(tmp_path):
    paths = make_synthetic(tmp_path / "data", gaps=("marker",))
    params_file = small_params(tmp_path, contract=str(paths["contract"]), snapshot=str(paths["snapshot"]),
                               **{**SYNTHETIC_OVERRIDES, "max_missing_fraction": 0.2})
    proc = run_data_checks(params_file, tmp_path / "out.ipynb")
    assert proc.returncode != 0 and "missing_values [marker]" in proc.stderr
    assert "set `missing: {allowed: true, impute: median}` on marker" in proc.stderr
    assert not (tmp_path / "processed" / "train.csv").exists()


def test_a_feature_the_contract_lets_be_missing_is_imputed_and_measured_through_the_pipeline(tmp_path):
    paths = make_synthetic(tmp_path / "data", gaps=("marker", "dose"), allow_missing={"marker": "median",
                                                                                    "dose": "mean"})
    params_file = small_params(tmp_path, contract=str(paths["contract"]), snapshot=str(paths["snapshot"]),
                               **{**SYNTHETIC_OVERRIDES, "max_missing_fraction": 0.2})
    outputs = run_pipeline(params_file, tmp_path / "reports")
    registry = Registry(tmp_path / "registry")
    meta = registry.metadata(registry.latest())
    assert [b["name"] for b in meta["behaviour"] if b["measured"] is None] == []
    assert registry.production() == registry.latest(), meta["gate"]["reasons"]
    assert "not measured" not in outputs_text(outputs[2])


def test_a_second_dataset_with_a_categorical_feature_runs_by_parameters_alone(tmp_path, wdbc_pages):  # genericity
    paths = make_synthetic(tmp_path / "data")
    params_file = small_params(tmp_path, contract=str(paths["contract"]), snapshot=str(paths["snapshot"]),
                               **SYNTHETIC_OVERRIDES)
    outputs = run_pipeline(params_file, tmp_path / "reports")
    registry = Registry(tmp_path / "registry")
    meta = registry.metadata(registry.latest())
    assert meta["contract"]["name"] == "synthetic" and "site" in meta["features"]
    assert registry.production() == registry.latest(), meta["gate"]["reasons"]
    assert "direction: dose increasing" in outputs_text(outputs[2])
    text = "\n".join(rendered_text(path) for path in outputs).lower()
    text += (registry.version_dir(registry.latest()) / "model_card.md").read_text(encoding="utf-8").lower()
    assert "synthetic adverse events" in text
    assert [word for word in BREAST_CANCER_WORDS if word in text] == []  # wording comes from the contract
    checks = outputs_text(outputs[0])
    assert "WARNING: snapshot integrity not checked: `manifest: null`" in checks  # printed
    assert re.search(r"integrity\s+WARNING\s+not checked", checks)  # the report table's row
    # the figures' alt texts describe this run: its classes and numbers, not the default dataset's
    alts = figure_alts(rendered_reports(outputs, tmp_path / "site")["03_evaluate"])
    default_alts = figure_alts(wdbc_pages["03_evaluate"])
    assert alts.keys() == default_alts.keys()
    c = meta["confusion"]
    for ident, alt in alts.items():
        assert alt != default_alts[ident] and "event" in alt, alt
    assert f"{c['tp'] + c['fn']} event cases and {c['fp'] + c['tn']} none cases" in alts["fig-roc"]
    assert f"AUC {meta['metrics']['roc_auc']:.3f}" in alts["fig-roc"]
    assert f"{c['fn']} below the threshold" in alts["fig-probabilities"]
    assert f"Brier score {meta['metrics']['brier']:.3f}" in alts["fig-calibration"]
