"""The evaluation chart: labelled values, intervals, segments, the default model's ratios."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from recommender.chart import chart, chart_figure, ratio_text
from recommender.evaluate import METRICS, Evaluation
from recommender.metrics import SEGMENTS


def ranker(ndcg: float, coverage: float, rank: float, segments: list[float]) -> dict:
    """One ranker's results as ``recdb evaluate`` writes them."""
    users = [200, 300, 700, 350]
    return {
        "precision@10": ndcg / 3,
        "recall@10": ndcg * 2,
        "map@10": ndcg / 2,
        "ndcg@10": ndcg,
        "coverage": coverage,
        "popularity_rank": rank,
        "ndcg@10_ci": [ndcg * 0.8, ndcg * 1.2],
        "vs_popularity": {"value": ndcg / 0.0035, "ci": [ndcg / 0.0042, ndcg / 0.0028]},
        "vs_oracle": {"value": ndcg / 0.0228, "ci": [ndcg / 0.027, ndcg / 0.019]},
        "segments": {
            name: {"users": n, "recall@10": v * 2, "ndcg@10": v}
            for (name, _, _), n, v in zip(SEGMENTS, users, segments, strict=True)
        },
    }


MODELS = {
    "als": ranker(0.0035, 0.0102, 89, [0.0065, 0.0024, 0.0037, 0.0019]),
    "content": ranker(0.0130, 0.0654, 877, [0.0079, 0.0101, 0.0130, 0.0183]),
    "hybrid": ranker(0.0140, 0.0800, 800, [0.0079, 0.0101, 0.0140, 0.0200]),
    "popularity": ranker(0.0035, 0.0022, 6, [0.0065, 0.0039, 0.0041, 0.0]),
    "oracle": ranker(0.0228, 0.0944, 1262, [0.0306, 0.0225, 0.0217, 0.0205]),
}
MODELS["popularity"]["vs_popularity"] = None
MODELS["oracle"]["vs_oracle"] = None
HOLDOUT = {
    "cutoff": "2030-05-20T10:11:12Z",
    "test_users_evaluated": 1550,
    "cold_start_test_users": 200,
}


def evaluation(models: dict | None = None) -> Evaluation:
    return Evaluation(models=models or MODELS, holdout=HOLDOUT, default_model="hybrid")


@pytest.fixture
def draw():
    figures = []

    def make(models: dict | None = None) -> Figure:
        figure = chart_figure(evaluation(models))
        figures.append(figure)
        return figure

    yield make
    for figure in figures:
        plt.close(figure)


def labels(figure: Figure, metric: str) -> dict[str, str]:
    """Each bar's value label for ``metric``, by ranker."""
    prefix = f"value:{metric}:"
    return {
        text.get_gid().removeprefix(prefix): text.get_text()
        for ax in figure.axes
        for text in ax.texts
        if (text.get_gid() or "").startswith(prefix)
    }


def test_every_ranker_has_labelled_values_in_each_panel(draw):
    figure = draw()
    assert len(figure.axes) == 4
    assert labels(figure, "ndcg@10") == {
        "als": "0.0035",
        "content": "0.013",
        "hybrid": "0.014",
        "popularity": "0.0035",
        "oracle": "0.0228",
    }
    assert labels(figure, "coverage")["oracle"] == "0.0944"
    assert labels(figure, "popularity_rank")["popularity"] == "6"
    # the default model stands out: a thick edge, the same colour in every panel
    ndcg = figure.axes[0]
    widths = dict(zip(MODELS, [bar.get_linewidth() for bar in ndcg.patches], strict=True))
    assert widths["hybrid"] > max(w for name, w in widths.items() if name != "hybrid")
    colours = {tuple(bar.get_facecolor()) for ax in figure.axes for bar in ax.patches}
    assert len(colours) == len(MODELS)


def test_the_ndcg_panel_shows_the_intervals(draw):
    ax = draw().axes[0]
    caps = [line for line in ax.lines if len(line.get_xdata()) == 5]
    tops = sorted(max(line.get_ydata()) for line in caps)
    assert tops[-1] == pytest.approx(0.0228 * 1.2)


def test_the_segment_panel_has_one_group_per_segment_with_its_users(draw):
    ax = draw().axes[1]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [
        "none\n(200 users)",
        "1-2\n(300 users)",
        "3-10\n(700 users)",
        "11+\n(350 users)",
    ]
    assert len(ax.patches) == len(MODELS) * len(SEGMENTS)


def test_the_title_gives_the_default_models_ratios_with_intervals(draw):
    figure = draw()
    first = figure.get_suptitle().splitlines()[0]
    assert first == ratio_text(evaluation())
    assert first.startswith("hybrid ndcg@10 = 4.0× popularity (3.3-5.0), 61% of the oracle")
    assert "1,550 test users (200 without history)" in figure.get_suptitle()


def test_an_oracle_far_above_the_rest_is_cut_and_labelled_not_the_scale(draw):
    models = {name: dict(values) for name, values in MODELS.items()}
    models["oracle"] = dict(models["oracle"], **{"ndcg@10": 0.25})
    figure = draw(models)
    ax = figure.axes[0]
    assert ax.get_ylim()[1] < 0.05
    assert labels(figure, "ndcg@10")["oracle"] == "0.25 (cut)"


def test_without_an_oracle_it_is_left_out_and_so_is_its_ratio(draw, tmp_path):
    models = {name: dict(values) for name, values in MODELS.items()}
    models["oracle"] = dict.fromkeys(METRICS) | {"segments": MODELS["oracle"]["segments"]}
    for values in models.values():
        values["vs_oracle"] = None
    figure = draw(models)
    assert "oracle" not in labels(figure, "ndcg@10")
    assert figure.get_suptitle().splitlines()[0] == ("hybrid ndcg@10 = 4.0× popularity (3.3-5.0)")
    path = tmp_path / "evaluation.png"
    chart(evaluation(models), path)
    assert path.read_bytes()[:4] == b"\x89PNG"
