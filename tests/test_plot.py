"""Static figures: Chinese names draw with a CJK font, legend, scale bar and north arrow."""

import os
import warnings

import matplotlib
import pytest

matplotlib.use("Agg")

import svcnet  # noqa: E402
from svcnet.viz import static  # noqa: E402


def test_region_plot_draws_chinese_names_without_missing_glyphs(tmp_path):
    if static.cjk_font() is None:
        if os.environ.get("CI"):
            pytest.fail("no CJK font: .ci/run installs fonts-noto-cjk")
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    region = svcnet.datasets.load_shenzhen()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax = region.plot()
        ax.figure.savefig(tmp_path / "shenzhen.png", dpi=60)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    texts = [t.get_text() for t in ax.texts]
    assert "福田区" in texts and "N" in texts and any(t.endswith("km") for t in texts)
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "Population per cell"
    assert len(legend.get_texts()) >= 3
    assert (tmp_path / "shenzhen.png").stat().st_size > 10_000


def test_plot_warns_when_no_cjk_font(monkeypatch):
    monkeypatch.setattr(static, "cjk_font", lambda: None)
    with pytest.warns(UserWarning, match="fonts-noto-cjk"):
        svcnet.datasets.load_futian().plot("pop_65plus")


def test_plot_rejects_an_unknown_group():
    with pytest.raises(svcnet.InputError, match="no such group"):
        svcnet.datasets.load_futian().plot("pop_80plus")
