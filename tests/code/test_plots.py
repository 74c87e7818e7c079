"""The figures' text alternatives: each states what its figure actually plots (counts, rates,
class names, the curve's shape), changes with the data, and reaches the rendered page as the
picture's alt text through a Chart. (C9.11, C12.7)"""

from __future__ import annotations

import base64
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from rendered_pages import build_site, main_content, read_page

from modelship.evaluate import calibration_table, classification_metrics
from modelship.plots import (
    Chart,
    calibration_alt,
    calibration_chart,
    operating_point,
    probability_alt,
    probability_figure,
    roc_alt,
    roc_chart,
    roc_figure,
)

pytestmark = [
    pytest.mark.requirement("C9.11", "C12.7"),
    pytest.mark.catalogue(
        part="Package: figure alt texts and Charts (modelship/plots.py)",
        scope="unit",
        strategy="example-based",
        tool="pytest, matplotlib, smalldocs",
    ),
]


def scores(seed: int, n: int = 300, signal: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(y * signal + rng.normal(0.2, 0.2, n), 0, 1)


def test_the_roc_alt_states_the_square_the_figure_draws_and_the_class_counts():
    y, p = scores(1)
    m = classification_metrics(y, p, 0.45)
    fig = roc_figure(y, p, m["roc_auc"], 0.45)
    square = next(line for line in fig.axes[0].lines if line.get_marker() == "s")
    drawn_fpr, drawn_tpr = float(square.get_xdata()[0]), float(square.get_ydata()[0])
    plt.close(fig)
    # the square is the operating point the metrics report: recall, and false alarms over negatives
    assert drawn_tpr == pytest.approx(m["recall"]) and drawn_fpr == pytest.approx(m["fp"] / (m["fp"] + m["tn"]))
    alt = roc_alt(y, p, m["roc_auc"], 0.45, "event", "none")
    assert f"false positive rate of {drawn_fpr:.3f} and a true positive rate of {drawn_tpr:.3f}" in alt
    assert f"AUC {m['roc_auc']:.3f}" in alt and "threshold 0.450" in alt
    assert f"{m['tp'] + m['fn']} event cases and {m['fp'] + m['tn']} none cases" in alt


def test_the_roc_alt_describes_the_shape_of_the_curve():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    separated = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    alt = roc_alt(y, separated, 1.0, 0.5, "yes", "no")
    assert "hugs the top-left corner" in alt and "true positive rate of 1.00 at a false positive rate of 0.05" in alt
    inverted = roc_alt(y, 1 - separated, 0.0, 0.5, "yes", "no")
    assert "below the diagonal" in inverted
    assert "true positive rate of 0.00 at a false positive rate of 0.05" in inverted
    rng = np.random.default_rng(3)
    y_noise = rng.integers(0, 2, 2000)
    noise = rng.random(2000)
    auc = classification_metrics(y_noise, noise, 0.5)["roc_auc"]
    assert "close to the diagonal of chance" in roc_alt(y_noise, noise, auc, 0.5, "yes", "no")


def test_the_roc_alt_refuses_a_test_set_with_one_class():
    with pytest.raises(ValueError, match="both classes"):
        operating_point(np.ones(5), np.linspace(0, 1, 5), 0.5)


def test_the_calibration_alt_places_each_point_against_the_diagonal():
    table = pd.DataFrame({"mean_predicted": [0.1, 0.3, 0.5, 0.7, 0.9], "observed_share": [0.1, 0.45, 0.5, 0.6, 0.93]})
    alt = calibration_alt(table, 0.123, "event")
    assert "observed share of event cases" in alt and "in 5 bins" in alt and "Brier score 0.123" in alt
    assert "3 of 5 points lie within 0.05 of the diagonal, 1 above it and 1 below it" in alt
    assert "largest gap is at 0.30 predicted, where 0.45 were event: 0.15 more than predicted" in alt
    assert "rises with every bin" in alt
    dipping = table.assign(observed_share=[0.1, 0.45, 0.4, 0.6, 0.5])
    assert "dips 2 times" in calibration_alt(dipping, 0.2, "event")
    with pytest.raises(ValueError):
        calibration_alt(table.iloc[:0], 0.1, "event")


def test_the_probability_alt_counts_what_the_histograms_draw_and_what_the_threshold_gets_wrong():
    y, p = scores(2)
    threshold = 0.5
    m = classification_metrics(y, p, threshold)
    fig = probability_figure(y, p, threshold, "event", "none")
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]  # 20 bars for "none", then 20 for "event"
    plt.close(fig)
    alt = probability_alt(y, p, threshold, "event", "none")
    assert f"{m['fp']} at or above the threshold (false alarms)" in alt
    assert f"{m['fn']} below the threshold (missed)" in alt
    medians = {"none": np.median(p[y == 0]), "event": np.median(p[y == 1])}
    for name, bars in (("none", heights[:20]), ("event", heights[20:])):
        median = medians[name]
        peak = int(np.argmax(bars))
        pattern = rf"actual {name} cases: median ([\d.]+), the tallest bar from ([\d.]+) to [\d.]+ with (\d+)"
        described = re.search(pattern, alt)
        assert described is not None, alt
        assert described.group(1) == f"{median:.2f}" and float(described.group(2)) == pytest.approx(peak / 20)
        assert int(described.group(3)) == int(bars[peak])


def test_the_alt_texts_change_with_the_data_and_name_its_classes():
    (y1, p1), (y2, p2) = scores(4, signal=0.7), scores(5, n=120, signal=0.3)
    for y, p, pos, neg in ((y1, p1, "malignant", "benign"), (y2, p2, "event", "none")):
        for alt in (
            roc_alt(y, p, classification_metrics(y, p, 0.5)["roc_auc"], 0.5, pos, neg),
            probability_alt(y, p, 0.5, pos, neg),
        ):
            assert pos in alt and neg in alt
    assert probability_alt(y1, p1, 0.5, "a", "b") != probability_alt(y2, p2, 0.5, "a", "b")
    auc1, auc2 = (classification_metrics(y, p, 0.5)["roc_auc"] for y, p in ((y1, p1), (y2, p2)))
    assert roc_alt(y1, p1, auc1, 0.5, "a", "b") != roc_alt(y2, p2, auc2, 0.5, "a", "b")
    t1, t2 = calibration_table(y1, p1), calibration_table(y2, p2)
    assert calibration_alt(t1, 0.1, "a") != calibration_alt(t2, 0.1, "a")


def test_a_chart_closes_its_figure_and_embeds_a_png():
    y, p = scores(6)
    before = set(plt.get_fignums())
    made = calibration_chart(calibration_table(y, p), 0.1, "event", "fig-cal", "Calibration.")
    assert set(plt.get_fignums()) == before  # shown once, as the Chart, not again by the inline backend
    assert made.png.startswith(b"\x89PNG\r\n\x1a\n")
    markdown = made._repr_markdown_()
    assert base64.b64encode(made.png).decode() in markdown and len(repr(made)) < 200


@pytest.mark.parametrize(
    ("label", "caption", "alt"),
    [("roc", "A caption.", "An alt."), ("fig-roc", " ", "An alt."), ("fig-roc", "A caption.", "\n")],
)
def test_a_chart_without_a_fig_label_caption_or_alt_is_refused(label, caption, alt):
    with pytest.raises(ValueError):
        Chart(label, caption, alt, b"")


def test_a_chart_reaches_the_rendered_page_with_its_id_caption_and_alt(tmp_path):
    y, p = scores(7)
    auc = classification_metrics(y, p, 0.5)["roc_auc"]
    made = roc_chart(y, p, auc, 0.5, 'class "one" [a]', "zero", "fig-roc", "ROC [test] curve\nof the *model*.")
    (tmp_path / "page.qmd").write_text(f"---\ntitle: Chart\n---\n\n{made._repr_markdown_()}\n", encoding="utf-8")
    page = main_content(read_page(build_site(tmp_path, ["page.qmd"]) / "page.html"))
    imgs = list(page.iter("img"))
    assert len(imgs) == 1
    img = imgs[0]
    figure = img.ancestor("figure")
    assert figure is not None and (img.attrs.get("id") == "fig-roc" or figure.attrs.get("id") == "fig-roc")
    assert img.attrs["alt"] == re.sub(r"\s+", " ", made.alt).replace('"', "'")
    assert "class 'one' [a]" in img.attrs["alt"] and f"AUC {auc:.3f}" in img.attrs["alt"]
    caption = next(figure.iter("figcaption"))
    assert caption.text() == "ROC [test] curve of the model."
    assert next(caption.iter("em")).text() == "model"  # the caption is Markdown
    assert base64.b64decode(img.attrs["src"].split(",", 1)[1]) == made.png
