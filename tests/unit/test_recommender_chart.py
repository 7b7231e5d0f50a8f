"""The evaluation chart: its own scale per metric, labelled bars, ALS's ratios (item 13)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from recommender.evaluate import METRICS, MODELS, Evaluation, chart, chart_figure

#: The README's evaluation at 1,000,000 users: ALS ndcg@10 = 3.5x popularity, 74% of oracle.
README_MODELS = {
    "als": {"precision@10": 0.0074, "map@10": 0.0104, "ndcg@10": 0.0186, "coverage": 0.0751},
    "popularity": {"precision@10": 0.0021, "map@10": 0.0028, "ndcg@10": 0.0053, "coverage": 0.0028},
    "best_of": {"precision@10": 0.0022, "map@10": 0.0029, "ndcg@10": 0.0055, "coverage": 0.0031},
    "oracle": {"precision@10": 0.0097, "map@10": 0.0142, "ndcg@10": 0.0250, "coverage": 0.1376},
}
HOLDOUT = {"cutoff": "2030-05-20T10:11:12Z", "test_users_evaluated": 100_000}


@pytest.fixture
def draw():
    figures = []

    def make(models) -> Figure:
        figure = chart_figure(Evaluation(models=models, holdout=HOLDOUT))
        figures.append(figure)
        return figure

    yield make
    for figure in figures:
        plt.close(figure)


def panels(figure: Figure) -> dict[str, object]:
    """The panels by metric (the first line of each title)."""
    return {ax.get_title().splitlines()[0]: ax for ax in figure.axes}


def labels(ax) -> dict[str, str]:
    """Each bar's value label, by model."""
    return {
        text.get_gid().removeprefix("value:"): text.get_text()
        for text in ax.texts
        if (text.get_gid() or "").startswith("value:")
    }


def test_the_chart_is_a_figure_with_one_panel_per_metric(draw):
    figure = draw(README_MODELS)
    assert isinstance(figure, Figure)
    assert list(panels(figure)) == list(METRICS)
    for ax in figure.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == list(MODELS)


def test_every_bar_carries_its_value(draw):
    for metric, ax in panels(draw(README_MODELS)).items():
        expected = {model: README_MODELS[model][metric] for model in MODELS}
        shown = labels(ax)
        assert set(shown) == set(MODELS)
        for model, value in expected.items():
            assert float(shown[model]) == pytest.approx(value, rel=5e-3), (metric, model)


def test_each_panel_has_its_own_scale_from_zero(draw):
    figure = draw(README_MODELS)
    tops = {}
    for metric, ax in panels(figure).items():
        low, high = ax.get_ylim()
        largest = max(README_MODELS[m][metric] for m in MODELS)
        assert low == 0
        assert largest < high < 1.5 * largest, metric  # fitted to this metric alone
        assert ax.get_shared_y_axes().get_siblings(ax) == [ax]
        tops[metric] = high
    assert len(set(tops.values())) == len(METRICS)
    # popularity's precision@10 bar is a visible share of its panel, not a sliver
    precision = panels(figure)["precision@10"]
    assert README_MODELS["popularity"]["precision@10"] / precision.get_ylim()[1] > 0.15


def test_the_ratios_to_popularity_and_the_oracle_are_in_the_titles(draw):
    figure = draw(README_MODELS)
    assert figure.get_suptitle().splitlines()[0] == (
        "ALS ndcg@10 = 3.5× popularity, 74% of the oracle"
    )
    assert "100,000 test users" in figure.get_suptitle()
    titles = {metric: ax.get_title() for metric, ax in panels(figure).items()}
    assert titles["ndcg@10"].splitlines()[1] == "ALS 3.5× popularity, 74% of oracle"
    assert titles["coverage"].splitlines()[1] == "ALS 26.8× popularity, 55% of oracle"


def test_an_oracle_far_above_the_rest_is_cut_and_labelled_not_the_scale(draw):
    models = {name: dict(values) for name, values in README_MODELS.items()}
    models["oracle"]["ndcg@10"] = 0.25  # 13x ALS
    models["popularity"]["ndcg@10"] = 0.0160
    ax = panels(draw(models))["ndcg@10"]
    high = ax.get_ylim()[1]
    assert high < 0.0186 * 1.5  # ALS, not the oracle, sets the scale
    assert labels(ax)["oracle"] == "0.25 (cut)"
    oracle_bar = ax.patches[MODELS.index("oracle")]
    assert oracle_bar.get_height() < high
    # the small difference between ALS and popularity is a visible step
    als_bar, popularity_bar = ax.patches[0], ax.patches[1]
    assert (als_bar.get_height() - popularity_bar.get_height()) / high > 0.1


def test_without_an_oracle_its_bars_say_n_a_and_the_ratio_leaves_it_out(draw, tmp_path):
    models = {name: dict(values) for name, values in README_MODELS.items()}
    models["oracle"] = dict.fromkeys(METRICS)
    figure = draw(models)
    assert figure.get_suptitle().splitlines()[0] == "ALS ndcg@10 = 3.5× popularity"
    for ax in figure.axes:
        assert labels(ax)["oracle"] == "n/a"
    path = tmp_path / "evaluation.png"
    chart(Evaluation(models=models, holdout=HOLDOUT), path)
    assert path.read_bytes()[:4] == b"\x89PNG"
