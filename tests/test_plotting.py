import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from aibook import plotting
from aibook.train import History


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_train_and_validation_curves():
    fig = plotting.plot_history(History(loss=[1, 0.5], metric=[0.5, 0.9], val_loss=[1.1, 0.6],
                                        val_metric=[0.4, 0.8]))
    loss_ax, metric_ax = fig.axes
    assert len(loss_ax.lines) == 2 and len(metric_ax.lines) == 2
    np.testing.assert_array_equal(metric_ax.lines[1].get_ydata(), [0.4, 0.8])


def test_plot_curves_adds_a_moving_average():
    fig = plotting.plot_curves({"a": np.arange(10.0)}, smooth=4)
    raw, avg = fig.axes[0].lines
    # The mean of i, i+1, i+2, i+3 is i + 1.5: quarters of small integers, exact in floats.
    np.testing.assert_array_equal(avg.get_ydata(), np.arange(7) + 1.5)
    np.testing.assert_array_equal(avg.get_xdata(), np.arange(3, 10))  # at each window's end
    assert len(raw.get_ydata()) == 10
    with pytest.raises(ValueError, match="smooth must be >= 1"):
        plotting.plot_curves({"a": [1, 2]}, smooth=0)


def test_decision_boundary_calls_predict_on_a_grid_of_points():
    seen = []

    def predict(P):
        seen.append(P.shape)
        return (P[:, 0] > 0).astype(int)

    X = torch.tensor([[-1.0, 0.0], [1.0, 1.0]])
    fig = plotting.plot_decision_boundary(predict, X, torch.tensor([0, 1]), resolution=50)
    assert seen == [(2500, 2)]
    assert fig.axes[0].collections  # the shaded regions and the scatter
    with pytest.raises(ValueError, match=r"expected X of shape \(N, 2\), got \(2, 3\)"):
        plotting.plot_decision_boundary(predict, np.zeros((2, 3)), [0, 1])


def test_image_grid_shows_every_image_with_its_label():
    imgs = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    fig = plotting.image_grid(imgs, labels=list(range(12)), ncols=5)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 12 and len(fig.axes) == 15
    assert [ax.get_title() for ax in shown] == [str(i) for i in range(12)]
    with pytest.raises(ValueError, match=r"12 images but 3 labels"):
        plotting.image_grid(imgs, labels=[1, 2, 3])
    with pytest.raises(ValueError, match=r"expected \(N, H, W\) or \(N, 1, H, W\)"):
        plotting.image_grid(np.zeros((2, 3, 8, 8)))


def test_confusion_matrix_counts_pairs():
    fig = plotting.plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    counts = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
